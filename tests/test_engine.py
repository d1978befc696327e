"""The dialogue engine (conversations/engine.py), case by case.

Each test gives a state and a turn and says what must come out: the replies as values,
the new state and the recorded changes. What a turn must do is taken from the issue's
acceptance text and ``shared/spec/reply-format.md``; expected values are written by hand
or computed with the independent helpers of ``tests/engineturns.py`` and
``tests/answerbuild.py``, never by asking the engine.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from conversations.engine import score_state, step
from conversations.parsing import CommandLine, parse_reply
from conversations.questionnaire import Model, parse_model
from conversations.replies import (
    AskQuestion,
    AskSection,
    Completed,
    Help,
    Invalid,
    NotAllowed,
    Note,
    NothingUnderstood,
    Paused,
    Recorded,
    Rescored,
    SectionDone,
    Skipped,
    StatusReport,
    Submitted,
    ValueRecorded,
)
from conversations.state import TRANSITIONS, Actor, AnswerRecord, ConversationState
from scoring.result import ScoreResult
from tests.answerbuild import points_of, reference_level
from tests.engineturns import (
    ADMINISTRATOR,
    COORDINATOR,
    COORDINATOR_EN,
    MANAGER,
    RESPONDENT,
    T0,
    answered_state,
    best_choice,
    kinds,
    of_type,
    one,
    play,
    record,
    state_with,
    turn,
    worst_choice,
)
from tests.modelgen import model_dict


def all_ids(model: Model) -> tuple[str, ...]:
    return tuple(q.id for q in model.questions)


def section_index(model: Model, section_id: str) -> int:
    return [s.id for s in model.sections].index(section_id)


def questions_of(model: Model, section_id: str) -> tuple[str, ...]:
    return model.sections[section_index(model, section_id)].questions


def key_figure_lines(model: Model) -> str:
    """A value for every key-figure (validation) question."""
    return "\n".join(
        f"{v.id} {v.options[0].id if v.kind == 'choice' else '40'}" for v in model.validation_questions
    )


def fill_lines(model: Model, qids: tuple[str, ...] | None = None, certain: bool = True) -> str:
    """One line per question, best choice, in the reply format (written by hand).

    Without ``qids`` every question, with the key figures (which a response asks before it
    completes on its own)."""
    out = [] if qids is not None else [key_figure_lines(model)]
    for qid in qids if qids is not None else all_ids(model):
        q = model.question(qid)
        assert q is not None
        out.append(" ".join([qid, *best_choice(q), "säker" if certain else "osäker"]))
    return "\n".join(out)


# --------------------------------------------------------------------------- recording


@pytest.mark.parametrize(
    ("text", "qid", "options", "certain", "certainty_given", "comment"),
    [
        ("1.1 a c säker", "1.1", ("a", "c"), True, True, None),
        ("1.1 a c osäker", "1.1", ("a", "c"), False, True, None),
        ("1.1 a c", "1.1", ("a", "c"), False, False, None),
        ("1.1 C A (säker)", "1.1", ("a", "c"), True, True, None),
        ("1.4 b-d osäker", "1.4", ("b", "c", "d"), False, True, None),
        ("1.4 b till d", "1.4", ("b", "c", "d"), False, False, None),
        ("1.1 nej säker", "1.1", ("g",), True, True, None),
        ("1.2 pågår", "1.2", ("h",), False, False, None),
        ("Fråga 1.2: a, c och e säker", "1.2", ("a", "c", "e"), True, True, None),
        (
            "1.6 a b säker # Beslutat i ledningsgruppen",
            "1.6",
            ("a", "b"),
            True,
            True,
            "Beslutat i ledningsgruppen",
        ),
        (
            "1.6 a b kommentar: gäller bara förvaltningen",
            "1.6",
            ("a", "b"),
            False,
            False,
            "gäller bara förvaltningen",
        ),
        ("2.2 a sure", "2.2", ("a",), True, True, None),
        ("2.2 a uncertain assessment", "2.2", ("a",), False, True, None),
        ("4.5 a, b and c certain comment: all of them", "4.5", ("a", "b", "c"), True, True, "all of them"),
    ],
)
def test_an_answer_is_recorded(
    model: Model,
    text: str,
    qid: str,
    options: tuple[str, ...],
    certain: bool,
    certainty_given: bool,
    comment: str | None,
) -> None:
    before = ConversationState()
    s = step(model, before, turn(text, RESPONDENT, channel="mail"))
    rec = one(s, Recorded)
    assert rec == Recorded(qid, options, certain, certainty_given, comment, text, None)
    stored = s.state.answers[qid]
    assert stored == AnswerRecord(
        options=options,
        certain=certain,
        comment=comment,
        by=RESPONDENT.email,
        channel="mail",
        at=T0,
        revision=1,
    )
    assert dict(s.changes) == {qid: stored}
    assert s.state.status == "in_progress"
    assert s.state.version == 1
    assert s.accepted
    assert not of_type(s, Invalid)


def test_missing_certainty_is_recorded_uncertain(model: Model) -> None:
    s = play(model, ["1.3 b"])
    assert one(s, Recorded).certainty_given is False
    assert one(s, Recorded).certain is False
    assert s.state.answers["1.3"].certain is False
    # the receipt tells how to change it: the next turn with a certainty word replaces it
    s2 = step(model, s.state, turn("1.3 b säker"))
    assert s2.state.answers["1.3"].certain is True
    assert s2.state.answers["1.3"].revision == 2


def test_web_chat_answers_the_question_on_screen(model: Model) -> None:
    s = step(model, ConversationState(), turn("b-c säker", RESPONDENT, channel="web", current="1.4"))
    assert one(s, Recorded) == Recorded("1.4", ("b", "c"), True, True, None, "b-c säker", None)
    assert s.state.answers["1.4"].channel == "web"


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("1.1 a säker", "1.1 b c osäker", record(["b", "c"], False, revision=2)),
        ("1.1 a säker", "1.1 a säker", record(["a"], True, revision=2)),
        ("1.1 a säker", "1.1 hoppa över", record(skipped=True, revision=2)),
        ("1.4 skip", "1.4 c säker", record(["c"], True, revision=2)),
        ("V1 40 %", "V1 55 %", record(value="55", revision=2)),
    ],
)
def test_a_later_turn_replaces_an_earlier_answer(
    model: Model, first: str, second: str, expected: AnswerRecord
) -> None:
    s1 = play(model, [first])
    qid = first.split()[0]
    previous = s1.state.answers[qid]
    s2 = step(model, s1.state, turn(second))
    stored = s2.state.answers[qid]
    assert stored == replace(expected, at=T0)
    assert stored.revision == previous.revision + 1
    assert dict(s2.changes) == {qid: stored}
    reply = s2.replies[0]
    assert isinstance(reply, Recorded | Skipped | ValueRecorded)
    assert reply.question == qid
    assert reply.previous == previous
    assert s2.state.version == s1.state.version + 1


def test_revisions_count_up_over_many_turns(model: Model) -> None:
    s = play(model, ["1.1 a", "1.1 b", "1.1 c", "1.1 d säker"])
    assert s.state.answers["1.1"].revision == 4
    previous = one(s, Recorded).previous
    assert previous is not None
    assert (previous.options, previous.certain, previous.revision) == (("c",), False, 3)
    assert previous.at is not None and s.state.answers["1.1"].at is not None
    assert previous.at < s.state.answers["1.1"].at


@pytest.mark.parametrize("text", ["1.4 hoppa över", "1.4 skip", "1.4 hoppa over", "Fråga 1.4: hoppa över"])
def test_skip(model: Model, text: str) -> None:
    s = play(model, [text])
    assert one(s, Skipped) == Skipped("1.4", text, None)
    stored = s.state.answers["1.4"]
    assert stored.skipped and stored.options == () and stored.certain is None
    assert not stored.answered
    assert s.state.status == "in_progress"
    report = one(step(model, s.state, turn("status")), StatusReport)
    assert "1.4" in report.remaining
    assert report.answered == 0
    kunskap = next(p for p in report.sections if p.section == "kunskap")
    assert (kunskap.answered, kunskap.skipped) == (0, 1)


@pytest.mark.parametrize(
    ("text", "qid", "value"),
    [
        ("V1 40 %", "V1", "40"),
        ("V1 40%", "V1", "40"),
        ("V3 12,5 procent", "V3", "12.5"),
        ("V2 12 st", "V2", "12"),
        ("V8 7", "V8", "7"),
        ("V6 b", "V6", "b"),
        ("V6 D", "V6", "d"),
        ("V2 12 pcs", "V2", "12"),
    ],
)
def test_validation_values(model: Model, text: str, qid: str, value: str) -> None:
    s = play(model, [text])
    assert one(s, ValueRecorded) == ValueRecorded(qid, value, text, None)
    stored = s.state.answers[qid]
    assert stored.value == value
    assert stored.certain is None and stored.options == () and not stored.skipped
    assert s.state.status == "in_progress"
    report = one(step(model, s.state, turn("status")), StatusReport)
    assert report.answered == 0  # key figures are not level-grounding answers
    assert report.remaining == all_ids(model)
    nyckeltal = report.sections[-1]
    assert (nyckeltal.answered, nyckeltal.skipped, nyckeltal.total) == (1, 0, len(model.validation_questions))


@pytest.mark.parametrize("section", [0, 3, 10])
@pytest.mark.parametrize(
    "text",
    [
        "1.1 a säker\n3.3 a b säker\n4.5 a osäker\nV6 b\n2.2 hoppa över",
        "1.1 a säker; 3.3 a b säker; 4.5 a osäker\nV6 b; 2.2 skip",
    ],
)
def test_answers_to_any_section_in_one_turn(model: Model, section: int, text: str) -> None:
    before = state_with({"2.4": record(["a"], True)}, section=section)
    s = step(model, before, turn(text))
    assert [r.question for r in s.replies if isinstance(r, Recorded | ValueRecorded | Skipped)] == [
        "1.1",
        "3.3",
        "4.5",
        "V6",
        "2.2",
    ]
    assert set(s.changes) == {"1.1", "3.3", "4.5", "V6", "2.2"}
    assert s.state.answers["3.3"].options == ("a", "b")
    assert s.state.answers["V6"].value == "b"
    assert s.state.answers["2.2"].skipped
    assert s.state.answers["2.4"] == before.answers["2.4"]
    assert s.accepted


# --------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("bad", "qid", "kind", "option"),
    [
        ("1.1 z säker", "1.1", "unknown_option", "z"),
        ("1.1 h säker", "1.1", "unknown_option", "h"),  # 1.1 has a–g
        ("1.1 kanske säker", "1.1", "unknown_option", "kanske"),
        ("1.1 nej a säker", "1.1", "exclusive_combined", "g"),
        ("1.7 a pågår", "1.7", "exclusive_combined", "g"),
        ("1.3 a c säker", "1.3", "not_adjacent", "a"),
        ("2.2 b d e osäker", "2.2", "not_adjacent", "b"),
        ("1.1 a säker osäker", "1.1", "conflicting_certainty", "säker"),
        ("9.9 a c säker", "9.9", "unknown_question", None),
        ("V6 z", "V6", "bad_value", "z"),
        ("V6 a-b", "V6", "range_not_allowed", "a"),
        ("V1 150 %", "V1", "bad_value", "150"),
    ],
)
def test_a_bad_line_changes_nothing_and_the_good_lines_count(
    model: Model, bad: str, qid: str, kind: str, option: str | None
) -> None:
    earlier = {"1.1": record(["b"], True), "V6": record(value="a"), "V1": record(value="10")}
    before = state_with(earlier)
    text = f"1.2 a säker\n{bad}\n2.1 b osäker"
    s = step(model, before, turn(text))

    # the good lines are recorded
    assert [r.question for r in of_type(s, Recorded)] == ["1.2", "2.1"]
    assert set(s.changes) == {"1.2", "2.1"}
    # the bad one changes nothing: its question keeps what it had
    if qid in earlier:
        assert s.state.answers[qid] == earlier[qid]
    assert qid not in s.changes
    # the reply names the line, the question, the offending option and a correct example
    invalid = one(s, Invalid)
    assert invalid.source == bad
    assert invalid.question == qid
    assert invalid.kind == kind
    assert invalid.option == option
    assert invalid.example
    example = parse_reply(model, invalid.example)
    assert example.errors == ()
    assert len(example.items) == 1
    item = example.items[0]
    assert not isinstance(item, CommandLine)
    if kind != "unknown_question":
        assert item.question == qid  # an example for that very question
    assert not s.accepted
    # replies come in order: recorded, not usable, then where the conversation goes
    assert kinds(s)[:3] == ["Recorded", "Recorded", "Invalid"]


def test_exclusive_mistake_names_both_options(model: Model) -> None:
    s = play(model, ["1.2 a pågår"])
    invalid = one(s, Invalid)
    assert (invalid.option, invalid.other) == ("h", "a")
    assert s.state == ConversationState()


def test_mistake_example_follows_the_turns_language(model: Model) -> None:
    s = step(model, ConversationState(), turn("1.1 z sure", COORDINATOR_EN))
    example = one(s, Invalid).example
    assert "sure" in example.split() or "unsure" in example.split()
    assert parse_reply(model, example).errors == ()


# --------------------------------------------------------------------------- status


def test_invited_in_progress_completed_submitted(model: Model) -> None:
    s0 = ConversationState()
    assert s0.status == "invited"
    s1 = step(model, s0, turn("1.1 a säker"))
    assert s1.state.status == "in_progress"
    rest = tuple(q for q in all_ids(model) if q != "1.1")
    s2 = step(model, s1.state, turn(fill_lines(model, rest) + "\n" + key_figure_lines(model)))
    assert s2.state.status == "completed"
    completed = one(s2, Completed)
    assert completed.reason == "all_answered"
    assert completed.unanswered == ()
    assert isinstance(completed.result, ScoreResult)
    assert s2.result == completed.result
    assert completed.result.answered == len(model.questions)
    assert kinds(s2)[-1] == "Completed"
    s3 = step(model, s2.state, turn("skicka in"))
    assert s3.state.status == "submitted"
    submitted = one(s3, Submitted)
    assert submitted.result == completed.result
    assert s3.result == completed.result
    assert s3.state.version == s2.state.version + 1


def test_all_answered_in_one_turn_from_invited(model: Model) -> None:
    s = step(model, ConversationState(), turn(fill_lines(model)))
    assert s.state.status == "completed"
    assert one(s, Completed).reason == "all_answered"
    assert len(s.changes) == len(model.questions) + len(model.validation_questions)


def test_skips_do_not_complete(model: Model) -> None:
    ids = all_ids(model)
    text = fill_lines(model, ids[:-1]) + f"\n{ids[-1]} hoppa över"
    s = step(model, ConversationState(), turn(text))
    assert s.state.status == "in_progress"
    assert not of_type(s, Completed)


def test_key_figures_are_asked_before_completing_but_never_required(model: Model) -> None:
    level_only = fill_lines(model, all_ids(model))
    s = step(model, ConversationState(), turn(level_only))
    assert not any(q in s.state.answers for q in (v.id for v in model.validation_questions))
    assert s.state.status == "in_progress"
    ask = one(s, AskSection)
    assert ask.section == model.sections[-1].id  # the key figures
    # once they have been asked, answering completes without them
    again = step(model, s.state, turn("1.1 a säker"))
    assert again.state.status == "completed" and one(again, Completed).reason == "all_answered"
    # klar completes at any time
    done = step(model, s.state, turn("klar"))
    assert done.state.status == "completed" and one(done, Completed).reason == "done"


@pytest.mark.parametrize("word", ["klar", "Klar.", "done", "färdig", "KLAR!"])
@pytest.mark.parametrize("answered", [(), ("1.1", "2.2", "4.5")])
def test_klar_by_the_coordinator_completes(model: Model, word: str, answered: tuple[str, ...]) -> None:
    before = answered_state(model, answered)
    s = step(model, before, turn(word))
    assert s.state.status == "completed"
    completed = one(s, Completed)
    assert completed.reason == "done"
    assert completed.unanswered == tuple(q for q in all_ids(model) if q not in answered)
    assert isinstance(completed.result, ScoreResult)
    assert s.result == completed.result
    assert completed.result.answered == len(answered)
    assert s.state.version == before.version + 1
    assert s.state.answers == before.answers


def test_klar_lists_skipped_questions_as_remaining(model: Model) -> None:
    before = state_with({"1.1": record(["a"]), "1.2": record(skipped=True)})
    completed = one(step(model, before, turn("klar")), Completed)
    assert "1.2" in completed.unanswered and "1.1" not in completed.unanswered


@pytest.mark.parametrize("word", ["skicka in", "Skicka in", "submit"])
@pytest.mark.parametrize("answered", [(), ("1.1",), tuple(f"1.{i}" for i in range(1, 16))])
def test_submit_before_completion_is_not_allowed(model: Model, word: str, answered: tuple[str, ...]) -> None:
    before = answered_state(model, answered)
    s = step(model, before, turn(word))
    assert one(s, NotAllowed) == NotAllowed("not_completed", word)
    assert s.state == before
    assert s.result is None
    assert not s.accepted


@pytest.mark.parametrize(
    "actor", [RESPONDENT, MANAGER, ADMINISTRATOR], ids=["respondent", "manager", "admin"]
)
@pytest.mark.parametrize("word", ["klar", "skicka in", "done", "submit"])
@pytest.mark.parametrize("status", ["in_progress", "completed"])
def test_klar_and_submit_are_the_coordinators(model: Model, actor: Actor, word: str, status: str) -> None:
    before = replace(answered_state(model, ("1.1",)), status=status)  # type: ignore[arg-type]
    s = step(model, before, turn(word, actor))
    assert one(s, NotAllowed) == NotAllowed("coordinator_only", word)
    assert s.state == before
    assert not of_type(s, Completed) and not of_type(s, Submitted)


def test_a_respondent_may_answer(model: Model) -> None:
    s = step(model, ConversationState(), turn("1.1 a säker", RESPONDENT))
    assert s.state.answers["1.1"].by == RESPONDENT.email
    assert s.accepted


@pytest.mark.parametrize(
    "actor",
    [
        MANAGER,
        ADMINISTRATOR,
        Actor("chef.och.admin@kommun.se", manager=True, administrator=True),
        Actor("admin.samordnare@kommun.se", coordinator=True, administrator=True),
    ],
    ids=["manager", "administrator", "manager+admin", "admin+coordinator"],
)
@pytest.mark.parametrize("text", ["1.1 a säker", "1.4 hoppa över", "V1 40 %", "1.1 a säker\n2.2 b osäker"])
def test_read_only_roles_record_nothing(model: Model, actor: Actor, text: str) -> None:
    before = answered_state(model, ("1.1",))
    s = step(model, before, turn(text, actor))
    refusal = one(s, NotAllowed)
    assert refusal.reason == "read_only_role"
    assert s.state == before
    assert dict(s.changes) == {}
    assert not of_type(s, Recorded) and not of_type(s, Skipped) and not of_type(s, ValueRecorded)


def test_a_manager_may_ask_for_status(model: Model) -> None:
    before = answered_state(model, ("1.1",))
    s = step(model, before, turn("status", MANAGER))
    assert one(s, StatusReport).answered == 1
    assert s.state == before


@pytest.mark.parametrize("status", ["submitted", "closed"])
@pytest.mark.parametrize(
    "text", ["1.1 a säker", "1.4 hoppa över", "V1 40 %", "1.1 b c osäker\n2.2 a säker", "1.1 a säker\nklar"]
)
@pytest.mark.parametrize("actor", [COORDINATOR, RESPONDENT], ids=["coordinator", "respondent"])
def test_nothing_is_recorded_once_submitted_or_closed(
    model: Model, status: str, text: str, actor: Actor
) -> None:
    before = answered_state(model, all_ids(model)[:10], status=status)  # type: ignore[arg-type]
    s = step(model, before, turn(text, actor))
    refusals = of_type(s, NotAllowed)
    assert refusals and refusals[0].reason == status
    assert s.state == before
    assert dict(s.changes) == {}
    assert not of_type(s, Recorded) and not of_type(s, Completed) and not of_type(s, Rescored)


@pytest.mark.parametrize(
    ("status", "word", "reason"),
    [
        ("submitted", "klar", "submitted"),
        ("closed", "klar", "closed"),
        ("closed", "skicka in", "closed"),
    ],
)
def test_commands_on_a_submitted_or_closed_response(
    model: Model, status: str, word: str, reason: str
) -> None:
    before = answered_state(model, all_ids(model), status=status)  # type: ignore[arg-type]
    s = step(model, before, turn(word))
    assert one(s, NotAllowed) == NotAllowed(reason, word)  # type: ignore[arg-type]
    assert s.state == before


def test_answering_after_completion_rescores(model: Model) -> None:
    # every answer the best and certain: the top level
    done = step(model, ConversationState(), turn(fill_lines(model)))
    assert done.state.status == "completed"
    top = done.result
    assert top is not None
    points = {q.id: points_of(q, best_choice(q)) for q in model.questions}
    certain = {q.id: True for q in model.questions}
    assert top.level == reference_level(model, points, certain) == len(model.levels)

    q11 = model.question("1.1")
    assert q11 is not None
    s = step(model, done.state, turn(f"1.1 {' '.join(worst_choice(q11))} säker"))
    assert s.state.status == "completed"
    rescored = one(s, Rescored)
    assert rescored.previous_level == top.level
    points["1.1"] = 0
    assert rescored.result.level == reference_level(model, points, certain) == 0
    assert s.result == rescored.result
    assert rescored.result == score_state(model, s.state)
    assert not of_type(s, Completed)


def test_answering_after_klar_rescores(model: Model) -> None:
    done = step(model, answered_state(model, ("1.1",)), turn("klar"))
    s = step(model, done.state, turn("1.2 a säker"))
    assert s.state.status == "completed"
    rescored = one(s, Rescored)
    assert rescored.previous_level == one(done, Completed).result.level
    assert rescored.result.answered == 2


def test_submit_twice_is_harmless(model: Model) -> None:
    s = play(model, [fill_lines(model), "skicka in", "skicka in"])
    assert s.state.status == "submitted"
    assert not of_type(s, NotAllowed)


def test_transitions_table_matches_the_state_diagram() -> None:
    assert TRANSITIONS["invited"]["answer"] == "in_progress"
    assert TRANSITIONS["invited"]["complete"] == "completed"
    assert TRANSITIONS["in_progress"]["complete"] == "completed"
    assert TRANSITIONS["completed"]["submit"] == "submitted"
    assert TRANSITIONS["submitted"]["withdraw"] == "completed"
    assert "answer" not in TRANSITIONS["submitted"]
    assert "answer" not in TRANSITIONS["closed"]
    assert all(TRANSITIONS[s]["close"] == "closed" for s in TRANSITIONS if s != "closed")


# --------------------------------------------------------------------------- sections


@pytest.mark.parametrize("word", ["nästa", "next", "Nästa!", "NEXT"])
def test_next_sends_the_next_section(model: Model, word: str) -> None:
    before = ConversationState()
    s = step(model, before, turn(word))
    second = model.sections[1]
    assert one(s, AskSection) == AskSection(second.id, 1, second.questions)
    assert s.state.section == 1
    assert second.id in s.state.sections_sent
    assert s.state.version == before.version + 1
    assert s.state.answers == before.answers and s.state.status == before.status


def test_next_skips_sections_without_open_questions(model: Model) -> None:
    # at section 0; section 1 is fully answered or skipped, section 2 partly answered
    s1 = questions_of(model, model.sections[1].id)
    s2 = questions_of(model, model.sections[2].id)
    answers = {q: record(["a"]) for q in s1[:-1]} | {s1[-1]: record(skipped=True), s2[0]: record(["a"])}
    before = state_with(answers)
    s = step(model, before, turn("nästa"))
    assert one(s, AskSection) == AskSection(model.sections[2].id, 2, s2[1:])
    assert s.state.section == 2


def test_next_from_the_last_section_wraps_to_the_first_open_one(model: Model) -> None:
    last = len(model.sections) - 1
    first_done = {q: record(["a"]) for q in model.sections[0].questions}
    before = state_with(first_done, section=last)
    s = step(model, before, turn("nästa"))
    assert one(s, AskSection).index == 1
    assert s.state.section == 1


def test_finishing_a_section_announces_it_and_asks_the_next(model: Model) -> None:
    first = model.sections[0]
    *done, last_q = first.questions
    before = state_with({q: record(["a"]) for q in done})
    s = step(model, before, turn(f"{last_q} a säker"))
    assert kinds(s) == ["Recorded", "SectionDone", "AskSection"]
    assert one(s, SectionDone) == SectionDone(first.id)
    assert one(s, AskSection) == AskSection(model.sections[1].id, 1, model.sections[1].questions)
    assert s.state.section == 1
    assert model.sections[1].id in s.state.sections_sent


def test_finishing_a_section_by_skipping(model: Model) -> None:
    first = model.sections[0]
    *done, last_q = first.questions
    before = state_with({q: record(["a"]) for q in done})
    s = step(model, before, turn(f"{last_q} hoppa över"))
    assert one(s, SectionDone) == SectionDone(first.id)
    assert one(s, AskSection).index == 1


def test_finishing_a_section_asks_the_next_open_section(model: Model) -> None:
    first, second, third = model.sections[:3]
    *done, last_q = first.questions
    answers = {q: record(["a"]) for q in (*done, *second.questions)}
    s = step(model, state_with(answers), turn(f"{last_q} a"))
    assert one(s, SectionDone) == SectionDone(first.id)
    assert one(s, AskSection) == AskSection(third.id, 2, third.questions)
    assert s.state.section == 2


def test_finishing_another_section_does_not_move_the_conversation(model: Model) -> None:
    third = model.sections[2]
    *done, last_q = third.questions
    before = state_with({q: record(["a"]) for q in done}, section=0)
    s = step(model, before, turn(f"{last_q} a säker"))
    assert one(s, SectionDone) == SectionDone(third.id)
    assert s.state.section == 0
    assert not of_type(s, AskSection)


def test_status_report(model: Model) -> None:
    answers = {
        "1.1": record(["a"]),
        "1.2": record(["i"], False),
        "1.3": record(skipped=True),
        "3.3": record(["a", "b"]),
        "V1": record(value="40"),
        "V2": record(skipped=True),
    }
    before = state_with(answers, section=2)
    s = step(model, before, turn("status"))
    report = one(s, StatusReport)
    assert report.status == "in_progress"
    assert report.answered == 3
    assert report.total == 40
    assert report.remaining == tuple(q for q in all_ids(model) if q not in {"1.1", "1.2", "3.3"})
    expected = {
        "ledning": (2, 0, 5),
        "kunskap": (0, 1, 4),
        "inventering": (1, 0, 4),  # 3.3 is in inventering (its first area)
        "klassning": (0, 0, 3),
        "risk": (0, 0, 6),
        "incident": (0, 0, 4),
        "atgarder": (0, 0, 4),
        "uppfoljning": (0, 0, 4),
        "upphandling": (0, 0, 3),
        "kultur": (0, 0, 3),
        "nyckeltal": (1, 1, 8),
    }
    assert {p.section: (p.answered, p.skipped, p.total) for p in report.sections} == expected
    assert [p.section for p in report.sections] == [sec.id for sec in model.sections]
    assert s.state == before
    assert s.accepted


def test_status_in_the_same_turn_reports_the_turns_answers(model: Model) -> None:
    s = step(model, ConversationState(), turn("1.1 a säker\nstatus"))
    report = one(s, StatusReport)
    assert report.status == "in_progress"
    assert report.answered == 1
    assert kinds(s).index("Recorded") < kinds(s).index("StatusReport")


@pytest.mark.parametrize("word", ["hjälp", "help", "Hjälp?", "hjalp"])
def test_help(model: Model, word: str) -> None:
    before = answered_state(model, ("1.1",))
    s = step(model, before, turn(word))
    assert s.replies == (Help(),)
    assert s.state == before


@pytest.mark.parametrize(
    "text",
    [
        "Hej! Jag återkommer nästa vecka med svaren.",
        "Tack för påminnelsen.\n\nMed vänliga hälsningar\nAnna",
        "Budgeten är 12.5 miljoner i år.",
        "> 1.1 a c säker\n> 1.2 b säker",
        "",
        "   \n\n",
        "Skickat från min iPhone",
    ],
)
def test_prose_only_is_nothing_understood(model: Model, text: str) -> None:
    before = answered_state(model, ("1.1",))
    s = step(model, before, turn(text))
    assert s.replies == (NothingUnderstood(),)
    assert s.state == before
    assert dict(s.changes) == {}


@pytest.mark.parametrize("word", ["pausa", "pause"])
@pytest.mark.parametrize(
    "actor", [COORDINATOR, RESPONDENT, MANAGER], ids=["coordinator", "respondent", "manager"]
)
def test_pause(model: Model, word: str, actor: Actor) -> None:
    before = answered_state(model, ("1.1",))
    s = step(model, before, turn(word, actor))
    assert s.replies == (Paused(actor.email),)
    assert s.state == before


# --------------------------------------------------------------------------- version and purity

COMPLETE = "complete"


def _state(model: Model, kind: str) -> ConversationState:
    if kind == "empty":
        return ConversationState()
    if kind == "some":
        return replace(answered_state(model, ("1.1", "2.2")), version=7)
    if kind == COMPLETE:
        return replace(answered_state(model, all_ids(model), status="completed"), version=12)
    if kind == "submitted":
        return replace(answered_state(model, all_ids(model), status="submitted"), version=13)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("start", "text", "actor", "changed"),
    [
        ("empty", "1.1 a säker", COORDINATOR, True),
        ("empty", "1.1 hoppa över", COORDINATOR, True),
        ("empty", "V1 40 %", COORDINATOR, True),
        ("empty", "klar", COORDINATOR, True),  # status changes
        ("empty", "nästa", COORDINATOR, True),  # section changes
        ("empty", "status", COORDINATOR, False),
        ("empty", "hjälp", COORDINATOR, False),
        ("empty", "pausa", COORDINATOR, False),
        ("empty", "Hej!", COORDINATOR, False),
        ("empty", "1.1 z säker", COORDINATOR, False),
        ("empty", "9.9 a säker", COORDINATOR, False),
        ("empty", "skicka in", COORDINATOR, False),
        ("empty", "klar", RESPONDENT, False),
        ("empty", "1.1 a säker", MANAGER, False),
        ("some", "1.1 a säker", COORDINATOR, True),  # same answer again: a new revision
        ("some", "1.3 a säker", RESPONDENT, True),
        ("some", "status", COORDINATOR, False),
        ("some", "1.3 a c", COORDINATOR, False),
        (COMPLETE, "1.1 b säker", COORDINATOR, True),
        (COMPLETE, "skicka in", COORDINATOR, True),
        (COMPLETE, "skicka in", RESPONDENT, False),
        (COMPLETE, "status", COORDINATOR, False),
        ("submitted", "1.1 b säker", COORDINATOR, False),
        ("submitted", "klar", COORDINATOR, False),
        ("submitted", "status", COORDINATOR, False),
    ],
)
def test_version_increments_only_when_something_changed(
    model: Model, start: str, text: str, actor: Actor, changed: bool
) -> None:
    before = _state(model, start)
    s = step(model, before, turn(text, actor))
    something = (
        s.state.answers != before.answers
        or s.state.status != before.status
        or s.state.section != before.section
    )
    assert something == changed
    assert s.state.version == before.version + (1 if changed else 0)


TURNS: list[tuple[str, str, Actor]] = [
    ("empty", "1.1 a säker\n1.2 z\nstatus\nnästa", COORDINATOR),
    ("empty", "1.1 a säker", RESPONDENT),
    ("some", "1.1 b\n2.2 hoppa över\nV6 b\nklar", COORDINATOR),
    ("some", "1.1 b", MANAGER),
    (COMPLETE, "1.1 nej säker\nskicka in", COORDINATOR),
    (COMPLETE, "4.5 a", RESPONDENT),
    ("submitted", "1.1 a säker\nklar\nskicka in\nstatus", COORDINATOR),
]


@pytest.mark.parametrize(("start", "text", "actor"), TURNS)
def test_the_engine_never_mutates_its_input(model: Model, start: str, text: str, actor: Actor) -> None:
    before = _state(model, start)
    answers_before = dict(before.answers)
    snapshot = copy.deepcopy(before)
    the_turn = turn(text, actor)
    turn_snapshot = copy.deepcopy(the_turn)
    s = step(model, before, the_turn)
    assert before == snapshot
    assert dict(before.answers) == answers_before
    assert the_turn == turn_snapshot
    if s.changes:
        assert s.state.answers is not before.answers


def test_the_engine_is_deterministic(model: Model) -> None:
    before = _state(model, "some")
    t = turn("1.1 a c säker\n1.3 a c\nV6 b\nstatus")
    assert step(model, before, t) == step(model, before, t)


def test_next_question_when_no_section_is_left_to_send(model: Model) -> None:
    # every section done except one question of the current section: nästa asks it
    ids = [q for sec in model.sections for q in sec.questions]
    answers = {q: record(["a"]) for q in ids if q != "1.1"}
    before = state_with(answers, section=0)
    s = step(model, before, turn("nästa"))
    asks: list[Any] = [*of_type(s, AskSection), *of_type(s, AskQuestion)]
    assert asks
    ask = asks[0]
    assert (ask.questions if isinstance(ask, AskSection) else (ask.question,)) == ("1.1",)


# --------------------------------------------------------------------------- sections of the model


def _expected_sections(model: Model) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for area in model.areas:
        mine = [q for q in model.questions if q.areas[0] == area.id]
        mine.sort(key=lambda q: q.level)  # stable: file order within a level
        if mine:
            out.append((area.id, tuple(q.id for q in mine)))
    return out


def test_default_sections_of_the_bundled_model(model: Model) -> None:
    sections = [(s.id, s.questions) for s in model.sections]
    assert sections[:-1] == _expected_sections(model)
    assert [s for s, _ in sections[:-1]] == [a.id for a in model.areas]  # every area has questions
    assert sections[-1][1] == tuple(v.id for v in model.validation_questions)
    # a question in two areas is in the section of its first one
    assert "1.15" in questions_of(model, "kultur") and "1.15" not in questions_of(model, "ledning")
    assert "4.1" in questions_of(model, "ledning")
    # level order inside a section
    for s in model.sections[:-1]:
        levels = [model.question(q).level for q in s.questions]  # type: ignore[union-attr]
        assert levels == sorted(levels)
    # every question in exactly one section
    placed = [q for s in model.sections for q in s.questions]
    assert sorted(placed) == sorted([*all_ids(model), *(v.id for v in model.validation_questions)])


def test_default_sections_follow_area_order_and_levels_not_file_order() -> None:
    doc = model_dict()
    doc["questions"] = list(reversed(doc["questions"]))  # level 4 first in the file
    doc["questions"][0]["areas"] = ["kultur", "ledning"]  # first area decides
    doc["areas"] = list(reversed(doc["areas"]))
    m, problems = parse_model(doc)
    assert not problems and m is not None
    assert [(s.id, s.questions) for s in m.sections[:-1]] == _expected_sections(m)
    assert [s.id for s in m.sections[:-1]] == [a.id for a in m.areas]
    first_q = doc["questions"][0]["id"]
    assert first_q in m.sections[[s.id for s in m.sections].index("kultur")].questions
    for s in m.sections[:-1]:
        levels = [m.question(q).level for q in s.questions]  # type: ignore[union-attr]
        assert levels == sorted(levels)
    assert m.sections[-1].questions == ("V1", "V2", "V3")


def test_explicit_sections_are_used_as_written() -> None:
    doc = model_dict(per_level=(2, 1, 1, 1))
    ids = [q["id"] for q in doc["questions"]]
    doc["sections"] = [
        {
            "id": "nyckeltal-forst",
            "title": {"sv": "Nyckeltal", "en": "Key figures"},
            "questions": ["V1", "V2", "V3"],
        },
        {"id": "resten", "title": {"sv": "Resten", "en": "The rest"}, "questions": list(reversed(ids))},
    ]
    m, problems = parse_model(doc)
    assert not problems and m is not None
    assert [(s.id, s.questions) for s in m.sections] == [
        ("nyckeltal-forst", ("V1", "V2", "V3")),
        ("resten", tuple(reversed(ids))),
    ]


def test_next_with_nothing_left_is_still_understood(model: Model) -> None:
    # NothingUnderstood: "the turn held no answer, no command and no line that looked like one"
    every = {q.id: record(best_choice(q)) for q in model.questions}
    every |= {v.id: record(value="1") for v in model.validation_questions}
    before = state_with(every, status="completed")
    s = step(model, before, turn("nästa"))
    assert NothingUnderstood() not in s.replies
    assert s.state == before


def test_a_real_reply_mail(model: Model) -> None:
    """Answers at the top, inline answers under the quoted section mail, a signature."""
    q12, q13 = model.question("1.2"), model.question("1.3")
    assert q12 is not None and q13 is not None
    text = "\n".join(
        [
            "Hej!",
            "",
            "1.1 a c säker # enligt beslut 2026-05-12",
            "",
            "Med vänliga hälsningar",
            "Anna Andersson",
            "Skickat från min iPhone",
            "",
            "Den 1 mars 2027 skrev Infosäkkollen <svar@infosakkollen.se>:",
            f"> 1.2 {q12.text.sv}",
            f"> a) {q12.options[0].text.sv}",
            f"> b) {q12.options[1].text.sv}",
            "a b säker",
            ">",
            f"> 1.3 {q13.text.sv}",
            f"> a) {q13.options[0].text.sv}",
            "b-c osäker",
            "> 1.4",
        ]
    )
    s = step(model, ConversationState(), turn(text))
    assert [(r.question, r.options, r.certain, r.comment) for r in of_type(s, Recorded)] == [
        ("1.1", ("a", "c"), True, "enligt beslut 2026-05-12"),
        ("1.2", ("a", "b"), True, None),
        ("1.3", ("b", "c"), False, None),
    ]
    assert set(s.changes) == {"1.1", "1.2", "1.3"}
    assert s.accepted


def test_the_same_question_twice_in_one_turn_keeps_the_later_line(model: Model) -> None:
    s = step(model, ConversationState(), turn("1.1 a säker\n1.1 b c osäker"))
    assert one(s, Recorded).options == ("b", "c")
    assert s.state.answers["1.1"].options == ("b", "c")
    assert s.state.answers["1.1"].revision == 1
    assert [n.kind for n in of_type(s, Note)] == ["replaced_in_same_turn"]


@pytest.mark.parametrize("word", ["ångra inskick", "Återkalla", "withdraw"])
def test_a_submitted_response_can_be_withdrawn_by_the_coordinator(model: Model, word: str) -> None:
    submitted = step(model, step(model, ConversationState(), turn("klar")).state, turn("skicka in")).state
    assert submitted.status == "submitted"
    back = step(model, submitted, turn(word))
    assert back.state.status == "completed"
    assert kinds(back) == ["Withdrawn"]
    # answering is possible again, and so is submitting
    again = step(model, back.state, turn("1.1 a säker\nskicka in"))
    assert again.state.status == "submitted"


def test_withdrawing_what_is_not_submitted_is_explained(model: Model) -> None:
    s = step(model, ConversationState(), turn("ångra inskick"))
    assert one(s, NotAllowed).reason == "not_submitted"
    assert s.state == ConversationState()


def test_a_closed_cycle_locks_a_submitted_response(model: Model) -> None:
    submitted = step(model, step(model, ConversationState(), turn("klar")).state, turn("skicka in")).state
    locked = replace(submitted, locked=True)
    s = step(model, locked, turn("ångra inskick"))
    assert one(s, NotAllowed).reason == "closed" and s.state == locked
    s = step(model, replace(locked, status="completed"), turn("1.1 a säker"))
    assert one(s, NotAllowed).reason == "closed" and not s.changes
