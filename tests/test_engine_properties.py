"""Properties of the dialogue engine over the bundled model.

- any valid answer rendered in the reply format is recorded exactly as given;
- turns made only of invalid lines never change the state;
- after any sequence of turns, ``status`` and ``state.status`` agree with an independent
  model of the rules kept in this file (:class:`Expected`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conversations.engine import step
from conversations.parsing import format_answer, format_validation
from conversations.questionnaire import Question, load_model
from conversations.replies import (
    Completed,
    Invalid,
    NotAllowed,
    Recorded,
    Rescored,
    Skipped,
    StatusReport,
    Submitted,
    ValueRecorded,
)
from conversations.state import Actor, AnswerRecord, ConversationState, Status
from scoring.answers import check_options, check_validation_value
from tests.engineturns import (
    ADMINISTRATOR,
    COORDINATOR,
    COORDINATOR_EN,
    MANAGER,
    RESPONDENT,
    T0,
    of_type,
    one,
    turn,
)

MODEL = load_model()
QUESTIONS = MODEL.questions
LEVEL_IDS = tuple(q.id for q in QUESTIONS)
VALIDATION_IDS = tuple(v.id for v in MODEL.validation_questions)
VALIDATION = MODEL.validation_questions
ALL_IDS = LEVEL_IDS + tuple(v.id for v in VALIDATION)
SCALE = [q for q in QUESTIONS if q.scoring == "scale"]
STATUSES: tuple[Status, ...] = ("invited", "in_progress", "completed", "submitted", "closed")

# Characters str.splitlines() breaks on, and '#': a comment is the rest of one line.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
comments = st.none() | st.text(
    alphabet=st.characters(blacklist_characters=LINE_BREAKS + "#", blacklist_categories=["Cs"]), max_size=40
)
CERTAINTY_WORDS = ["", "säker", "osäker", "sure", "unsure", "(säker)"]


def _plain(q: Question) -> list[str]:
    return [o.id for o in q.options if not o.exclusive]


def _exclusive(q: Question) -> list[str]:
    return [o.id for o in q.options if o.exclusive]


@st.composite
def any_choice(draw: st.DrawFn, q: Question) -> list[str]:
    """A choice of options, mostly allowed ones (the tests keep what check_options allows)."""
    letters = list(q.letters)
    plain = _plain(q)
    shape = draw(st.sampled_from(["single", "subset", "slice", "any"]))
    if shape == "single":
        return [draw(st.sampled_from(letters))]
    if shape == "subset":
        chosen = draw(st.lists(st.sampled_from(plain), min_size=1, unique=True))
    elif shape == "slice":
        start = draw(st.integers(0, len(plain) - 1))
        chosen = plain[start : draw(st.integers(start + 1, len(plain)))]
    else:
        chosen = draw(st.lists(st.sampled_from(letters), min_size=1, unique=True))
    return draw(st.permutations(chosen))


@st.composite
def valid_choice(draw: st.DrawFn, q: Question) -> list[str]:
    """An allowed choice: one option, a set of aspects (count) or an adjacent range (scale)."""
    plain = _plain(q)
    if draw(st.integers(0, 3)) == 0:
        chosen = [draw(st.sampled_from(q.letters))]
    elif q.scoring == "count":
        chosen = draw(st.lists(st.sampled_from(plain), min_size=1, unique=True))
    else:
        start = draw(st.integers(0, len(plain) - 1))
        chosen = plain[start : draw(st.integers(start + 1, min(len(plain), start + 3)))]
    assert check_options(q, chosen) is None
    return chosen


@st.composite
def validation_value(draw: st.DrawFn) -> tuple[str, str, str]:
    """(id, line, normalised value) of a valid key figure."""
    vq = draw(st.sampled_from(VALIDATION))
    if vq.kind == "choice":
        raw = draw(st.sampled_from([o.id for o in vq.options]))
    elif vq.kind == "percent":
        raw = str(draw(st.integers(0, 100)))
    else:
        raw = str(draw(st.integers(0, 10_000)))
    normalised, _ = check_validation_value(vq, raw)
    assert normalised is not None
    return vq.id, format_validation(vq, normalised, lang=draw(st.sampled_from(["sv", "en"]))), normalised


# --------------------------------------------------------------------------- invalid lines

UNKNOWN_IDS = ["9.9", "5.1", "1.16", "2.12", "4.6", "3.10", "V9", "V12"]
assert not set(UNKNOWN_IDS) & set(ALL_IDS)


@st.composite
def invalid_line(draw: st.DrawFn) -> str:
    """A line that must be refused: it names a question (known or not) and a bad choice."""
    kind = draw(st.sampled_from(["unknown_option", "unknown_question", "exclusive", "not_adjacent"]))
    certainty = draw(st.sampled_from(CERTAINTY_WORDS))
    if kind == "unknown_question":
        qid = draw(st.sampled_from(UNKNOWN_IDS))
        body = draw(st.sampled_from(["a", "a c", "b-d", "nej", "a och c", "b"]))
        return f"{qid} {body} {certainty}".strip()
    if kind == "not_adjacent":
        q = draw(st.sampled_from(SCALE))
        plain = _plain(q)
        i = draw(st.integers(0, len(plain) - 3))
        j = draw(st.integers(i + 2, len(plain) - 1))
        chosen = [plain[i], plain[j]]
        text = " ".join(draw(st.permutations(chosen)))
        assert check_options(q, chosen) is not None
        return f"{q.id} {text} {certainty}".strip()
    q = draw(st.sampled_from(QUESTIONS))
    if kind == "exclusive":
        e = draw(st.sampled_from(_exclusive(q)))
        other = draw(st.sampled_from([x for x in q.letters if x != e]))
        opt = q.option(e)
        assert opt is not None
        word = draw(st.sampled_from([e, *opt.keyword.values.values()]))
        parts = draw(st.permutations([word, other]))
        assert check_options(q, [e, other]) is not None
        return f"{q.id} {' '.join(parts)} {certainty}".strip()
    # an option letter the question does not have, maybe next to good ones
    bad = draw(st.sampled_from([c for c in string.ascii_lowercase if c not in q.letters]))
    good = draw(st.lists(st.sampled_from(q.letters), max_size=2, unique=True))
    parts = draw(st.permutations([*good, bad]))
    return f"{q.id} {' '.join(parts)} {certainty}".strip()


@st.composite
def some_state(draw: st.DrawFn) -> ConversationState:
    """Any state the shell could load: some questions answered, skipped or valued; any status."""
    qids = draw(st.lists(st.sampled_from(ALL_IDS), unique=True, max_size=30))
    answers: dict[str, AnswerRecord] = {}
    for qid in qids:
        q = MODEL.question(qid)
        revision = draw(st.integers(1, 3))
        if draw(st.integers(0, 4)) == 0:
            answers[qid] = AnswerRecord(skipped=True, by="x@y.se", channel="mail", at=T0, revision=revision)
        elif q is None:
            answers[qid] = AnswerRecord(value="1", by="x@y.se", channel="web", at=T0, revision=revision)
        else:
            answers[qid] = AnswerRecord(
                options=tuple(draw(valid_choice(q))),
                certain=draw(st.booleans()),
                comment=draw(st.none() | st.just("kommentar")),
                by="x@y.se",
                channel="mail",
                at=T0,
                revision=revision,
            )
    return ConversationState(
        status=draw(st.sampled_from(STATUSES)),
        answers=answers,
        section=draw(st.integers(0, len(MODEL.sections) - 1)),
        sections_sent=frozenset(s.id for s in MODEL.sections[: draw(st.integers(0, 3))]),
        version=draw(st.integers(0, 40)),
    )


ACTORS = st.sampled_from([COORDINATOR, COORDINATOR_EN, RESPONDENT, MANAGER, ADMINISTRATOR])


# --------------------------------------------------------------------------- 1. round trip


@settings(derandomize=True, max_examples=400, deadline=None)
@given(
    data=st.data(),
    lang=st.sampled_from(["sv", "en"]),
    actor=st.sampled_from([COORDINATOR, RESPONDENT, COORDINATOR_EN]),
    status=st.sampled_from(["invited", "in_progress", "completed"]),
)
def test_a_rendered_answer_is_recorded_exactly(
    data: st.DataObject, lang: str, actor: Actor, status: Status
) -> None:
    q = data.draw(st.sampled_from(QUESTIONS))
    chosen = data.draw(any_choice(q))
    assume(check_options(q, chosen) is None)
    certain = data.draw(st.none() | st.booleans())
    comment = data.draw(comments)
    earlier = data.draw(st.none() | st.just(AnswerRecord(options=(q.letters[0],), certain=True, revision=2)))
    before = ConversationState(status=status, answers={q.id: earlier} if earlier else {})

    text = format_answer(q, chosen, certain, comment, lang=lang)
    s = step(MODEL, before, turn(text, actor))

    options = tuple(sorted(chosen, key=q.letters.index))
    expected_comment = (comment.strip() or None) if comment is not None else None
    rec = one(s, Recorded)
    assert (rec.question, rec.options, rec.certain, rec.certainty_given, rec.comment) == (
        q.id,
        options,
        bool(certain),
        certain is not None,
        expected_comment,
    )
    assert rec.previous == earlier
    assert s.state.answers[q.id] == AnswerRecord(
        options=options,
        certain=bool(certain),
        comment=expected_comment,
        by=actor.email,
        channel="mail",
        at=T0,
        revision=(earlier.revision + 1) if earlier else 1,
    )
    assert dict(s.changes) == {q.id: s.state.answers[q.id]}
    assert not of_type(s, Invalid) and not of_type(s, NotAllowed)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(value=validation_value(), actor=st.sampled_from([COORDINATOR, RESPONDENT]))
def test_a_rendered_key_figure_is_recorded_exactly(value: tuple[str, str, str], actor: Actor) -> None:
    vid, text, normalised = value
    s = step(MODEL, ConversationState(), turn(text, actor))
    assert one(s, ValueRecorded) == ValueRecorded(vid, normalised, text, None)
    assert s.state.answers[vid] == AnswerRecord(value=normalised, by=actor.email, channel="mail", at=T0)


# --------------------------------------------------------------------------- 2. invalid turns


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    before=some_state(),
    lines=st.lists(invalid_line(), min_size=1, max_size=4),
    actor=ACTORS,
    separator=st.sampled_from(["\n", "\r\n", "\n\n"]),
)
def test_invalid_turns_never_change_state(
    before: ConversationState, lines: list[str], actor: Actor, separator: str
) -> None:
    s = step(MODEL, before, turn(separator.join(lines), actor))
    assert s.state.answers == before.answers
    assert s.state.status == before.status
    assert s.state.section == before.section
    assert s.state.version == before.version
    assert s.state == before
    assert dict(s.changes) == {}
    assert s.result is None
    assert [r.source for r in of_type(s, Invalid)] == lines
    for reply in of_type(s, Invalid):
        assert reply.example
    assert not of_type(s, Recorded) and not of_type(s, Skipped) and not of_type(s, ValueRecorded)
    assert not s.accepted


# --------------------------------------------------------------------------- 3. status after any turns


@dataclass
class Expected:
    """The rules, kept by hand: what each turn must do to the status and the answers."""

    status: Status = "invited"
    done: dict[str, str] = field(default_factory=dict)  # id -> "answered" | "skipped"

    def answered(self, qid: str) -> bool:
        return self.done.get(qid) == "answered"

    def all_answered(self) -> bool:
        return all(self.answered(q) for q in LEVEL_IDS)

    def key_figures_offered(self, sent: frozenset[str]) -> bool:
        """Key figures answered or skipped, or their section already sent (then completion may come)."""
        return all(v in self.done for v in VALIDATION_IDS) or any(
            sec.id in sent for sec in MODEL.sections if set(sec.questions) & set(VALIDATION_IDS)
        )

    def apply(
        self,
        actor: Actor,
        items: list[tuple[str, str]],
        commands: list[str],
        sent: frozenset[str] = frozenset(),
    ) -> dict[str, object]:
        """Apply a turn's usable lines and commands; return what the replies must show."""
        refusals: list[str] = []
        completed: list[str] = []
        rescored = submitted = False
        recorded: set[str] = set()
        if items:
            if self.status in ("submitted", "closed"):
                refusals.append(self.status)
            elif not (actor.coordinator or actor.respondent) or actor.administrator:
                refusals.append("read_only_role")
            else:
                old = self.status
                for qid, what in items:
                    self.done[qid] = what
                    recorded.add(qid)
                if self.status == "invited":
                    self.status = "in_progress"
                if old == "completed":
                    rescored = True
                elif self.all_answered() and self.key_figures_offered(sent):
                    self.status = "completed"
                    completed.append("all_answered")
        for command in commands:
            if command == "klar":
                if not actor.coordinator:
                    refusals.append("coordinator_only")
                elif self.status in ("submitted", "closed"):
                    refusals.append(self.status)
                elif "all_answered" in completed:
                    pass  # this turn completed the response already
                else:
                    self.status = "completed"
                    completed.append("done")
            elif command == "skicka in":
                if not actor.coordinator:
                    refusals.append("coordinator_only")
                elif self.status == "submitted":
                    submitted = True
                elif self.status != "completed":
                    refusals.append("closed" if self.status == "closed" else "not_completed")
                else:
                    self.status = "submitted"
                    submitted = True
        return {
            "refusals": refusals,
            "completed": completed,
            "rescored": rescored,
            "submitted": submitted,
            "recorded": recorded,
        }


COMMANDS = ["status", "nästa", "klar", "skicka in", "hjälp", "pausa"]
SEQUENCE_ACTORS = st.sampled_from([COORDINATOR, COORDINATOR, COORDINATOR_EN, RESPONDENT, MANAGER])


@st.composite
def a_line(draw: st.DrawFn) -> tuple[str, tuple[str, str] | None]:
    """One line of a turn and the item it must record (None: it must be refused)."""
    kind = draw(st.sampled_from(["answer", "answer", "answer", "skip", "value", "invalid"]))
    lang = draw(st.sampled_from(["sv", "en"]))
    if kind == "answer":
        q = draw(st.sampled_from(QUESTIONS))
        line = format_answer(q, draw(valid_choice(q)), draw(st.none() | st.booleans()), lang=lang)
        return line, (q.id, "answered")
    if kind == "skip":
        qid = draw(st.sampled_from(ALL_IDS))
        return f"{qid} {draw(st.sampled_from(['hoppa över', 'skip']))}", (qid, "skipped")
    if kind == "value":
        vid, line, _ = draw(validation_value())
        return line, (vid, "answered")
    return draw(invalid_line()), None


@settings(derandomize=True, max_examples=120, deadline=None)
@given(data=st.data(), n_turns=st.integers(1, 14))
def test_status_after_any_sequence_of_turns(data: st.DataObject, n_turns: int) -> None:
    state = ConversationState()
    expected = Expected()
    for _ in range(n_turns):
        actor = data.draw(SEQUENCE_ACTORS)
        shape = data.draw(st.sampled_from(["lines", "lines", "command", "lines+command", "fill"]))
        lines: list[tuple[str, tuple[str, str] | None]] = []
        commands: list[str] = []
        if shape in ("lines", "lines+command"):
            lines = data.draw(st.lists(a_line(), min_size=1, max_size=5))
        if shape == "fill":  # answer every level-grounding question still without an answer
            for q in QUESTIONS:
                if not expected.answered(q.id):
                    line = format_answer(q, data.draw(valid_choice(q)), data.draw(st.booleans()))
                    lines.append((line, (q.id, "answered")))
        if shape in ("command", "lines+command"):
            commands = [data.draw(st.sampled_from(COMMANDS))]
        text = "\n".join([*(line for line, _ in lines), *commands])
        items = [item for _, item in lines if item is not None]

        old = state
        s = step(MODEL, old, turn(text, actor))
        must = expected.apply(actor, items, commands, old.sections_sent)
        state = s.state

        # the status and the answers
        assert state.status == expected.status, (text, actor)
        got = {qid: ("skipped" if rec.skipped else "answered") for qid, rec in state.answers.items()}
        assert got == expected.done
        assert set(s.changes) == must["recorded"]
        # the replies that say so
        assert [r.reason for r in of_type(s, NotAllowed)] == must["refusals"]
        assert [r.reason for r in of_type(s, Completed)] == must["completed"]
        assert bool(of_type(s, Rescored)) == must["rescored"]
        assert bool(of_type(s, Submitted)) == must["submitted"]
        assert len(of_type(s, Invalid)) == sum(1 for _, item in lines if item is None)
        # the version moves exactly when something changed
        changed = state.answers != old.answers or state.status != old.status or state.section != old.section
        assert state.version == old.version + (1 if changed else 0)

        # `status`, asked by anyone, tells the same and changes nothing
        probe = step(MODEL, state, turn("status", data.draw(SEQUENCE_ACTORS)))
        assert probe.state == state
        report = one(probe, StatusReport)
        assert report.status == expected.status
        assert report.total == len(LEVEL_IDS)
        assert report.answered == sum(1 for q in LEVEL_IDS if expected.answered(q))
        assert report.remaining == tuple(q for q in LEVEL_IDS if not expected.answered(q))
        sections = {
            sec.id: (
                sum(1 for q in sec.questions if expected.done.get(q) == "answered"),
                sum(1 for q in sec.questions if expected.done.get(q) == "skipped"),
                len(sec.questions),
            )
            for sec in MODEL.sections
        }
        assert {p.section: (p.answered, p.skipped, p.total) for p in report.sections} == sections
