"""The chat's part caches (bot/web/parts.py): stencils fill their holes, caches stay bounded,
the index memo keeps the answered count and renders what a fresh page renders."""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.app import create_app
from bot.web import view
from bot.web.parts import PARTS, IndexMemo, Stencil, Viewer, _Lru, hole, replies_html
from bot.web.parts import shown as parts_shown
from conversations.engine import step
from conversations.parsing import AnswerLine, SkipLine, ValidationLine, format_answer
from conversations.progress import Progress
from conversations.questionnaire import Model
from conversations.replies import AskQuestion, Help, NothingUnderstood, Recorded, SectionDone
from conversations.state import Actor, AnswerRecord, ConversationState, Turn
from tests.webutil import web_settings


def test_a_stencil_fills_each_hole_with_its_value() -> None:
    html = f"<a href='/svar/{hole('rid')}'>{hole('name')}</a><input value='{hole('csrf')}'>"
    stencil = Stencil(html)
    assert stencil.fill({"rid": "7", "name": "Anna &amp; Bo", "csrf": "t0k"}) == (
        "<a href='/svar/7'>Anna &amp; Bo</a><input value='t0k'>"
    )
    # filled-in values are not scanned again: a value that looks like a marker stays as it is
    assert stencil.fill({"rid": "1", "name": "<@csrf@>", "csrf": "x"}) == (
        "<a href='/svar/1'><@csrf@></a><input value='x'>"
    )


def test_a_stencil_with_one_kind_of_hole_and_one_without_holes() -> None:
    links = Stencil(f"<a href='/svar/{hole('rid')}?fraga=1.1'>1</a><a href='/svar/{hole('rid')}'>2</a>")
    assert links.only == "rid"
    assert links.fill({"rid": "42"}) == "<a href='/svar/42?fraga=1.1'>1</a><a href='/svar/42'>2</a>"
    plain = Stencil("<p>Klart</p>")
    assert plain.fill({}) == "<p>Klart</p>" and plain.only is None


def test_a_cache_renders_once_per_key_and_drops_its_oldest_when_full() -> None:
    cache = _Lru(limit=3)
    made: list[str] = []

    def make(text: str) -> str:
        made.append(text)
        return text

    for key in ("a", "b", "a", "c", "d", "a"):
        assert cache.get(key, lambda key=key: make(key)).fill({}) == key
    assert made == ["a", "b", "c", "d", "a"]  # "a" was the oldest when "d" came, so made again
    assert len(cache._items) == 3


def _random_turn(model: Model, rng: random.Random, who: Actor, qid: str) -> Turn:
    """A chat turn on ``qid``: a skip, a key figure, or one of its options, at random."""
    q = model.question(qid)
    if rng.random() < 0.2:
        item: Any = SkipLine(qid, f"{qid} hoppa över")
    elif q is None:
        item = ValidationLine(qid, str(rng.randint(1, 99)), qid)
    else:
        letters = (rng.choice([o.id for o in q.options if not o.exclusive]),)
        item = AnswerLine(qid, letters, True, None, format_answer(q, letters, True))
    return Turn(who, "web", datetime.now(UTC), current_question=qid, items=(item,))


def test_the_index_memo_counts_answers_as_progress_does(tmp_path: Path, model: Model) -> None:
    """The count the status and progress parts show is kept up to date as the index compares
    the answers, across answers, changes, skips, key figures and a fresh memo."""
    parts = create_app(web_settings(tmp_path), workers=False)[PARTS]
    rng = random.Random(5)
    viewer = Viewer("sv", 1, "t0k", True, True, "")
    state, memo = ConversationState(), IndexMemo()
    grounding = [q.id for q in model.questions]
    figures = [v.id for v in model.validation_questions]
    who = Actor("anna@exempelby.se", coordinator=True, respondent=True)
    for n in range(300):
        qid = rng.choice(grounding + figures)
        state = step(model, state, _random_turn(model, rng, who, qid)).state
        if n % 50 == 49:
            memo = IndexMemo()  # a page opened afresh counts from scratch
        shown = parts_shown(parts, viewer, state, date(2027, 10, 31), view.next_open(model, state), "", memo)
        expected = Progress(model, state.answers).answered_count()
        assert memo.answered == expected
        assert f"{expected}/{len(model.questions)}" in shown.progress


def test_the_index_memo_renders_what_a_page_opened_afresh_renders(tmp_path: Path, model: Model) -> None:
    """The lines and sections a page keeps from turn to turn are those a fresh page gets, as
    answers come, change and are skipped, and as the question on screen moves (or there is
    none)."""
    parts = create_app(web_settings(tmp_path), workers=False)[PARTS]
    rng = random.Random(11)
    viewer = Viewer("sv", 1, "t0k", True, True, "")
    state, memo = ConversationState(), IndexMemo()
    who = Actor("anna@exempelby.se", coordinator=True, respondent=True)
    questions = list(parts.index_questions)
    for _ in range(200):
        state = step(model, state, _random_turn(model, rng, who, rng.choice(questions))).state
        on_screen = rng.choice([None, view.next_open(model, state), rng.choice(questions)])
        kept = parts_shown(parts, viewer, state, date(2027, 10, 31), on_screen, "", memo)
        fresh = parts_shown(parts, viewer, state, date(2027, 10, 31), on_screen, "", IndexMemo())
        assert kept.sections == fresh.sections
    assert len(state.answers) > 30 and "q-answered" in "".join(kept.sections)


def test_replies_are_cached_by_what_they_show(tmp_path: Path, model: Model) -> None:
    """One cache entry per reply as shown: who gave a replaced answer is filled in, whether
    there was one is part of the key; replies with one field and with none are keys too."""
    parts = create_app(web_settings(tmp_path), workers=False)[PARTS]

    def html(*replies: Any) -> str:
        return replies_html(parts, "sv", replies, lambda: {"model": model, "section_title": str})

    def recorded(previous: AnswerRecord | None) -> Recorded:
        return Recorded("1.1", ("a",), True, True, None, "1.1 a säker", previous)

    first = html(recorded(None), AskQuestion("1.2", "ledning"))
    by_bo = html(recorded(AnswerRecord(("b",), True, by="Bo <bo@k.se>")))
    by_cy = html(recorded(AnswerRecord(("c",), False, by="Cy")))
    anonymous = html(recorded(AnswerRecord(("b",), True)))
    assert "ersätter" not in first and "Fråga 1.2" not in first and "1.2" in first
    assert "ersätter tidigare svar från Bo &lt;bo@k.se&gt;" in by_bo
    assert "från Cy" in by_cy and "Bo" not in by_cy
    assert "ersätter tidigare svar" in anonymous and "från" not in anonymous
    assert "SectionDone" not in html(SectionDone("ledning"), Help(), NothingUnderstood())
    # 1.1 without, with a named and with an unnamed earlier answer; 1.2; and the three others
    assert len(parts.replies._items) == 3 + 1 + 3
    assert html(recorded(AnswerRecord(("a", "b"), True, by="Dag"))).count("från Dag") == 1
    assert len(parts.replies._items) == 7  # the same entry as Bo's, filled in with Dag


def test_rendering_replies_leaves_no_cyclic_garbage(tmp_path: Path, model: Model) -> None:
    """A reply rendered afresh (a cache miss) is freed as soon as it is done: no reference cycles
    for the collector to find. (The chat renders replies under load; cyclic garbage fills the
    collector's youngest generation and makes its pauses longer.)"""
    parts = create_app(web_settings(tmp_path), workers=False)[PARTS]

    def helpers() -> dict[str, Any]:
        return {"model": model, "section_title": str}

    replies_html(parts, "sv", [AskQuestion("1.1", "ledning")], helpers)  # the templates are loaded
    gc.collect()
    gc.disable()
    try:
        for q in model.questions[:10]:
            html = replies_html(
                parts,
                "sv",
                [Recorded(q.id, (q.options[0].id,), True, True, None, "", None), AskQuestion(q.id, "x")],
                helpers,
            )
            assert f"<strong>{q.id}</strong> {q.text.get('sv')}" in html.replace("&#39;", "'")
        assert len(parts.replies._items) == 1 + 2 * 10  # every one of them rendered afresh
        assert gc.collect() == 0
    finally:
        gc.enable()
