"""Helpers for the dialogue-engine tests: actors, turns, answer lines and replies by type.

Written from ``shared/spec/reply-format.md`` and the issue's acceptance text, so that the
tests can state what must come out of a turn without asking the engine how it does it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from conversations.engine import Step, step
from conversations.questionnaire import Model, Question
from conversations.state import Actor, AnswerRecord, Channel, ConversationState, Status, Turn

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

COORDINATOR = Actor("samordnare@kommun.se", coordinator=True)
RESPONDENT = Actor("svarande@kommun.se", respondent=True)
MANAGER = Actor("chef@kommun.se", manager=True)
ADMINISTRATOR = Actor("admin@myndighet.se", administrator=True)
COORDINATOR_EN = Actor("coordinator@kommun.se", coordinator=True, language="en")

R = TypeVar("R")


def turn(
    text: str,
    actor: Actor = COORDINATOR,
    *,
    channel: Channel = "mail",
    at: datetime = T0,
    current: str | None = None,
) -> Turn:
    return Turn(actor=actor, channel=channel, at=at, text=text, current_question=current)


def play(
    model: Model,
    texts: Iterable[str],
    actor: Actor = COORDINATOR,
    state: ConversationState | None = None,
) -> Step:
    """Apply turns one after another (one minute apart); return the last step."""
    current = state if state is not None else ConversationState()
    last: Step | None = None
    for i, text in enumerate(texts):
        last = step(model, current, turn(text, actor, at=T0 + timedelta(minutes=i)))
        current = last.state
    assert last is not None, "no turns"
    return last


def of_type(s: Step, cls: type[R]) -> list[R]:
    return [r for r in s.replies if isinstance(r, cls)]


def one(s: Step, cls: type[R]) -> R:
    found = of_type(s, cls)
    assert len(found) == 1, f"expected one {cls.__name__}, got {[type(r).__name__ for r in s.replies]}"
    return found[0]


def kinds(s: Step) -> list[str]:
    return [type(r).__name__ for r in s.replies]


def plain(question: Question) -> list[str]:
    return [o.id for o in question.options if not o.exclusive]


def best_choice(question: Question) -> list[str]:
    """The choice worth the most: every aspect of a count question, the first band of a scale."""
    ids = plain(question)
    return ids if question.scoring == "count" else ids[:1]


def worst_choice(question: Question) -> list[str]:
    """An exclusive 0-point option without flags (``nej``)."""
    for o in reversed(question.options):
        if o.exclusive and o.points == 0 and not o.flags:
            return [o.id]
    raise ValueError(question.id)


def record(
    options: Sequence[str] = (),
    certain: bool | None = True,
    *,
    value: str | None = None,
    skipped: bool = False,
    by: str = COORDINATOR.email,
    revision: int = 1,
) -> AnswerRecord:
    if skipped or value is not None:
        certain = None
    return AnswerRecord(
        options=tuple(options),
        certain=certain,
        value=value,
        skipped=skipped,
        by=by,
        channel="mail",
        at=T0,
        revision=revision,
    )


def state_with(
    answers: dict[str, AnswerRecord] | None = None,
    status: Status | None = None,
    section: int = 0,
    **kw: Any,
) -> ConversationState:
    """A state as the shell would load it; status defaults to what the answers imply."""
    answers = dict(answers or {})
    if status is None:
        status = "in_progress" if answers else "invited"
    return ConversationState(status=status, answers=answers, section=section, **kw)


def answered_state(model: Model, qids: Iterable[str], status: Status | None = None) -> ConversationState:
    """Every question in ``qids`` answered with its best choice, certain."""
    answers: dict[str, AnswerRecord] = {}
    for qid in qids:
        q = model.question(qid)
        assert q is not None, qid
        answers[qid] = record(best_choice(q), True)
    return state_with(answers, status)
