"""The dialogue engine: one turn in, the new state and the replies out.

:func:`step` is the only way a conversation changes. It reads the turn's text with the
reply-format parser, checks who may do what, records answers (a later answer replaces an
earlier one; the stored history is the shell's job), moves the status along
:data:`conversations.state.TRANSITIONS`, follows the sections, and scores the response
when it is completed. A line that cannot be used changes nothing; the good lines of the
same turn still count. Pure and synchronous: no I/O, no clock (the turn carries its time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from conversations.parsing import (
    AnswerLine,
    CommandLine,
    ErrorKind,
    Item,
    LineError,
    ParsedTurn,
    SkipLine,
    ValidationLine,
    example_line,
    parse_reply,
)
from conversations.progress import Progress
from conversations.questionnaire import Model
from conversations.replies import (
    AskQuestion,
    AskSection,
    Completed,
    Help,
    Invalid,
    NotAllowed,
    NotAllowedReason,
    Note,
    NothingUnderstood,
    Paused,
    Recorded,
    Reply,
    Rescored,
    SectionDone,
    Skipped,
    StatusReport,
    Submitted,
    ValueRecorded,
    Withdrawn,
)
from conversations.state import AnswerRecord, ConversationState, Turn, transition
from scoring.answers import Answer, check_options, check_validation_value
from scoring.result import ScoreResult
from scoring.score import score


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one turn.

    ``changes`` are the answers this turn recorded (question id → new record), for the
    shell to store with their history; ``result`` is the new score when the turn scored
    the response (completed, re-scored or submitted).
    """

    state: ConversationState
    replies: tuple[Reply, ...]
    changes: Mapping[str, AnswerRecord]
    result: ScoreResult | None = None
    language: str = "sv"

    @property
    def accepted(self) -> bool:
        """True when no line of the turn was refused."""
        return not any(isinstance(r, Invalid | NotAllowed) for r in self.replies)


def score_state(model: Model, state: ConversationState) -> ScoreResult:
    """Score the answers of a state (skipped questions count as unanswered)."""
    answers = {
        qid: Answer(rec.options, bool(rec.certain))
        for qid, rec in state.answers.items()
        if not rec.skipped and rec.value is None and model.question(qid) is not None
    }
    validation = {
        qid: rec.value for qid, rec in state.answers.items() if rec.value is not None and not rec.skipped
    }
    return score(model, answers, validation, area_details=True)


def step(model: Model, state: ConversationState, turn: Turn) -> Step:
    """Apply one turn to a conversation.

    Returns:
        The new state (with ``version`` + 1 when anything changed), the replies in order,
        the recorded changes and, when the response was scored, the score result.
    """
    parsed = parse_reply(
        model, turn.text, default_language=turn.actor.language, current_question=turn.current_question
    )
    if turn.items:
        parsed = _with_structured(model, parsed, turn.items)
    replies: list[Reply] = []
    answers = dict(state.answers)
    changes: dict[str, AnswerRecord] = {}
    status = state.status
    commands = [item for item in parsed.items if isinstance(item, CommandLine)]
    answer_items = [item for item in parsed.items if not isinstance(item, CommandLine)]

    refusal = _refusal(state, turn) if answer_items else None
    if refusal is not None:
        replies.append(NotAllowed(refusal, answer_items[0].source))
    else:
        for item in answer_items:
            previous = answers.get(item.question)
            record = _record(item, turn, previous.revision + 1 if previous else 1)
            if isinstance(item, AnswerLine):
                replies.append(
                    Recorded(
                        item.question,
                        item.options,
                        bool(item.certain),
                        item.certain is not None,
                        item.comment,
                        item.source,
                        previous,
                    )
                )
            elif isinstance(item, ValidationLine):
                replies.append(ValueRecorded(item.question, item.value, item.source, previous))
            else:
                replies.append(Skipped(item.question, item.source, previous))
            answers[item.question] = record
            changes[item.question] = record

    for error in parsed.errors:
        replies.append(
            Invalid(error.source, error.question, error.kind, error.option, error.other, error.example)
        )
    for notice in parsed.notices:
        replies.append(Note(notice.kind, notice.question, notice.source))

    new = replace(state, answers=answers)
    progress = Progress(model, new.answers)
    result: ScoreResult | None = None

    if changes:
        status = transition(status, "answer") or status
        new = replace(new, status=status)
        # the sections the turn finished, and the next one to ask
        before = Progress(model, state.answers)
        for index, section in enumerate(model.sections):
            if progress.section_done(index) and not before.section_done(index):
                replies.append(SectionDone(section.id))
        if state.status == "completed":
            result = score_state(model, new)
            replies.append(Rescored(result, state.level))
            new = replace(new, level=result.level)
        elif progress.all_answered() and progress.key_figures_offered(state.sections_sent):
            status = transition(status, "complete") or status
            new = replace(new, status=status)
            result = score_state(model, new)
            new = replace(new, level=result.level)
            replies.append(Completed("all_answered", result, ()))
        else:
            new = _advance(model, new, progress, replies, force=False)

    for command in commands:
        new, result = _command(model, new, turn, command, progress, replies, result)

    if not replies:
        replies.append(NothingUnderstood())
    if changes or new.status != state.status or new.section != state.section:
        new = replace(new, version=state.version + 1)
    return Step(new, tuple(replies), changes, result, parsed.language)


def _record(item: AnswerLine | ValidationLine | SkipLine, turn: Turn, revision: int) -> AnswerRecord:
    """The stored form of one usable line."""
    if isinstance(item, AnswerLine):
        return AnswerRecord(
            options=item.options,
            certain=bool(item.certain),
            comment=item.comment,
            by=turn.actor.email,
            channel=turn.channel,
            at=turn.at,
            revision=revision,
        )
    if isinstance(item, ValidationLine):
        return AnswerRecord(
            value=item.value, by=turn.actor.email, channel=turn.channel, at=turn.at, revision=revision
        )
    return AnswerRecord(
        skipped=True, by=turn.actor.email, channel=turn.channel, at=turn.at, revision=revision
    )


def _status(model: Model, state: ConversationState, progress: Progress) -> StatusReport:
    return StatusReport(
        state.status,
        progress.sections(),
        progress.answered_count(),
        len(model.questions),
        progress.remaining(),
    )


def _with_structured(model: Model, parsed: ParsedTurn, items: tuple[Any, ...]) -> ParsedTurn:
    """Add a form's structured choices to the parsed text, checked like typed lines."""
    good: list[Item] = list(parsed.items)
    errors: list[LineError] = list(parsed.errors)
    for item in items:
        source = getattr(item, "source", "") or ""
        if isinstance(item, CommandLine):
            good.append(item)
            continue
        question = model.question(item.question)
        vq = model.validation_question(item.question)
        if isinstance(item, AnswerLine) and question is not None:
            problem = check_options(question, item.options)
            if problem is None:
                good.append(item)
            else:
                errors.append(
                    LineError(
                        source,
                        item.question,
                        cast(ErrorKind, problem.kind),
                        problem.option,
                        problem.other,
                        example_line(question),
                    )
                )
        elif isinstance(item, ValidationLine) and vq is not None:
            value, _reason = check_validation_value(vq, item.value)
            if value is None:
                errors.append(
                    LineError(source, item.question, "bad_value", item.value, None, example_line(vq))
                )
            else:
                good.append(replace(item, value=value))
        elif isinstance(item, SkipLine) and (question is not None or vq is not None):
            good.append(item)
        else:
            errors.append(
                LineError(source, getattr(item, "question", None), "unknown_question", None, None, "")
            )
    # a later choice for the same question replaces an earlier one
    last: dict[str, Item] = {}
    commands: list[Item] = []
    for item in good:
        if isinstance(item, CommandLine):
            commands.append(item)
        else:
            last.pop(item.question, None)
            last[item.question] = item
    return replace(parsed, items=(*last.values(), *commands), errors=tuple(errors))


def _refusal(state: ConversationState, turn: Turn) -> NotAllowedReason | None:
    if state.status == "closed" or state.locked:
        return "closed"
    if state.status == "submitted":
        return "submitted"
    if not turn.actor.may_answer:
        return "read_only_role"
    return None


def _advance(
    model: Model,
    state: ConversationState,
    progress: Progress,
    replies: list[Reply],
    *,
    force: bool,
) -> ConversationState:
    """Move to the next section with open questions when the current one is done (or ``force``)."""
    if not model.sections:
        return state
    current = min(state.section, len(model.sections) - 1)
    if not force and not progress.section_done(current):
        return state
    nxt = progress.next_open_section(current + 1 if force or progress.section_done(current) else current)
    if nxt is None:
        return state
    section = model.sections[nxt]
    replies.append(AskSection(section.id, nxt, progress.open_questions(nxt)))
    return replace(state, section=nxt, sections_sent=state.sections_sent | {section.id})


def _command(
    model: Model,
    state: ConversationState,
    turn: Turn,
    command: CommandLine,
    progress: Progress,
    replies: list[Reply],
    result: ScoreResult | None,
) -> tuple[ConversationState, ScoreResult | None]:
    actor = turn.actor
    match command.command:
        case "status":
            replies.append(_status(model, state, progress))
        case "help":
            replies.append(Help())
        case "next":
            state = _advance(model, state, progress, replies, force=True)
            if not any(isinstance(r, AskSection) for r in replies):
                question = progress.first_open_question()
                if question is not None:
                    replies.append(AskQuestion(question, model.sections[progress.section_of(question)].id))
                else:  # nothing left to ask: say where the response stands
                    replies.append(_status(model, state, progress))
        case "done":
            if not actor.coordinator:
                replies.append(NotAllowed("coordinator_only", command.source))
            elif state.status == "submitted" or state.status == "closed":
                replies.append(NotAllowed(state.status, command.source))
            elif any(isinstance(r, Completed) for r in replies):
                pass  # this turn completed the response already
            else:
                new_status = transition(state.status, "complete") or state.status
                state = replace(state, status=new_status)
                result = score_state(model, state)
                state = replace(state, level=result.level)
                replies.append(Completed("done", result, progress.remaining()))
        case "submit":
            if not actor.coordinator:
                replies.append(NotAllowed("coordinator_only", command.source))
            elif state.status == "submitted":
                result = result or score_state(model, state)
                replies.append(Submitted(result))
            elif state.status != "completed":
                reason: NotAllowedReason = "closed" if state.status == "closed" else "not_completed"
                replies.append(NotAllowed(reason, command.source))
            else:
                state = replace(state, status="submitted")
                result = result or score_state(model, state)
                replies.append(Submitted(result))
        case "withdraw":
            if not actor.coordinator:
                replies.append(NotAllowed("coordinator_only", command.source))
            elif state.status != "submitted" or state.locked:
                why: NotAllowedReason = (
                    "closed" if state.status == "closed" or state.locked else "not_submitted"
                )
                replies.append(NotAllowed(why, command.source))
            else:
                state = replace(state, status=transition(state.status, "withdraw") or state.status)
                replies.append(Withdrawn())
        case "pause":
            replies.append(Paused(actor.email))
    return state, result
