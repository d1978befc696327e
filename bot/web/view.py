"""What the chat page shows of a response: the question on screen, progress, the index.

Plain values built from the model and the conversation state, for the templates. The
question on screen is the one the person chose (``?fraga=1.4``), else the first open
question from the section the conversation is at; a question is open when it has neither
an answer nor a skip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.database import Database
from bot.db.tables import Cycle, Organisation, Response
from bot.i18n import gettext
from bot.turn import load_state
from conversations.parsing import format_answer, format_validation
from conversations.progress import Progress
from conversations.questionnaire import Model
from conversations.state import AnswerRecord, ConversationState

_STATES = {"answered": "besvarad", "skipped": "överhoppad", "open": "obesvarad"}
REVISIONS: sa.Table = SQLModel.metadata.tables["answer_revisions"]
RESPONSES: sa.Table = SQLModel.metadata.tables["responses"]


@dataclass(frozen=True, slots=True)
class Loaded:
    response: Response
    organisation: Organisation
    cycle: Cycle
    state: ConversationState


async def load(db: Database, response_id: int) -> Loaded | None:
    async with db.transaction(readonly=True) as session:
        response = await session.get(Response, response_id)
        if response is None:
            return None
        organisation = await session.get(Organisation, response.organisation_id)
        cycle = await session.get(Cycle, response.cycle_id)
        assert organisation is not None and cycle is not None
        state = await load_state(session, response)
    return Loaded(response, organisation, cycle, state)


async def load_state_only(db: Database, response: Response) -> ConversationState:
    async with db.transaction(readonly=True) as session:
        fresh = await session.get(Response, response.id)
        return await load_state(session, fresh or response)


async def current_version(db: Database, response_id: int) -> int | None:
    async with db.transaction(readonly=True) as session:
        conn = await session.connection()
        row = (
            await conn.execute(sa.select(RESPONSES.c.version).where(RESPONSES.c.id == response_id))
        ).first()
    return int(row[0]) if row is not None else None


async def revisions_after(
    session: AsyncSession | Database, response_id: int, cursor: int, limit: int = 50
) -> list[Any]:
    """Answer revisions of a response newer than ``cursor`` (all of them when cursor is 0: the last ``limit``)."""
    query = sa.select(REVISIONS).where(REVISIONS.c.response_id == response_id)
    if cursor:
        query = query.where(REVISIONS.c.id > cursor).order_by(REVISIONS.c.id).limit(limit)
    else:
        query = query.order_by(REVISIONS.c.id.desc()).limit(limit)
    if isinstance(session, Database):
        async with session.transaction(readonly=True) as s:
            rows = list((await (await s.connection()).execute(query)).all())
    else:
        rows = list((await (await session.connection()).execute(query)).all())
    return rows if cursor else list(reversed(rows))


def next_open(model: Model, state: ConversationState) -> str | None:
    """The first open question from the section the conversation is at (wrapping around)."""
    progress = Progress(model, state.answers)
    sections = model.sections
    if not sections:
        return None
    start = min(state.section, len(sections) - 1)
    for k in range(len(sections)):
        for qid in sections[(start + k) % len(sections)].questions:
            if not progress.is_done(qid):
                return qid
    return None


def known(model: Model, qid: str | None) -> bool:
    return bool(qid) and model.any_question(qid or "") is not None


_LINES: dict[tuple[int, str, tuple[str, ...], bool | None, str | None, str], str] = {}


def answer_line(model: Model, qid: str, rec: AnswerRecord | None, lang: str) -> str:
    """The current answer as a reply-format line (without the id), or ''."""
    if rec is None or rec.skipped:
        return ""
    key = (id(model), qid, rec.options, rec.certain, rec.value, lang)
    line = _LINES.get(key)
    if line is None:
        if len(_LINES) > 100_000:
            _LINES.clear()
        line = _LINES[key] = _answer_line(model, qid, rec, lang)
    return line


def _answer_line(model: Model, qid: str, rec: AnswerRecord, lang: str) -> str:
    q = model.question(qid)
    if q is not None and rec.options:
        return format_answer(q, rec.options, rec.certain, None, lang=lang).partition(" ")[2]
    vq = model.validation_question(qid)
    if vq is not None and rec.value is not None:
        return format_validation(vq, rec.value, lang=lang).partition(" ")[2]
    return ""


def section_index(model: Model, qid: str) -> int:
    return model.section_of(qid) or 0


def question_view(model: Model, qid: str, state: ConversationState, lang: str) -> dict[str, Any]:
    """The question on screen: texts, options with what is chosen now, certainty, comment."""
    rec = state.answers.get(qid)
    index = section_index(model, qid)
    section = model.sections[index]
    common = {
        "id": qid,
        "section_title": section.title.get(lang),
        "section_number": index + 1,
        "section_count": len(model.sections),
        "position": section.questions.index(qid) + 1,
        "section_size": len(section.questions),
        "skipped": rec is not None and rec.skipped,
        "answered": rec is not None and not rec.skipped,
        "current": answer_line(model, qid, rec, lang),
    }
    q = model.question(qid)
    if q is not None:
        chosen = set(rec.options) if rec is not None else set()
        return {
            **common,
            "kind": "level",
            "text": q.text.get(lang),
            "stem": q.stem.get(lang) if q.stem.values else "",
            "help": q.help.get(lang),
            "scoring": q.scoring,
            "options": [
                {
                    "id": o.id,
                    "text": o.text.get(lang),
                    "exclusive": o.exclusive,
                    "keyword": o.keyword.get(lang) if o.keyword.values else "",
                    "checked": o.id in chosen,
                }
                for o in q.options
            ],
            "certain": rec.certain if rec is not None and not rec.skipped else None,
            "comment": (rec.comment or "") if rec is not None else "",
            "value": "",
        }
    vq = model.validation_question(qid)
    assert vq is not None
    return {
        **common,
        "kind": "validation",
        "text": vq.text.get(lang),
        "stem": "",
        "help": vq.help.get(lang) if vq.help.values else "",
        "scoring": vq.kind,
        "unit": vq.unit.get(lang) if vq.unit.values else ("%" if vq.kind == "percent" else ""),
        "options": [
            {
                "id": o.id,
                "text": o.text.get(lang),
                "exclusive": True,
                "keyword": "",
                "checked": rec is not None and rec.value == o.id,
            }
            for o in vq.options
        ],
        "certain": None,
        "comment": "",
        "value": (rec.value or "") if rec is not None and vq.kind != "choice" else "",
    }


def progress_view(model: Model, state: ConversationState, lang: str, shown: str | None) -> dict[str, Any]:
    """Per section answered/skipped/total with each question's state, and the overall count."""
    progress = Progress(model, state.answers)
    return {
        "sections": [section_view(model, i, state.answers, lang, shown) for i in range(len(model.sections))],
        "answered": progress.answered_count(),
        "total": len(model.questions),
        "all_answered": progress.all_answered(),
    }


def section_view(
    model: Model, index: int, answers: Mapping[str, AnswerRecord], lang: str, shown: str | None
) -> dict[str, Any]:
    """One section of the question index: its questions' states and the section's counts."""
    s = model.sections[index]
    questions = [index_item(model, qid, answers.get(qid), lang, qid == shown) for qid in s.questions]
    return {
        "id": s.id,
        "number": index + 1,
        "title": s.title.get(lang),
        "answered": sum(1 for q in questions if q["status"] == "answered"),
        "skipped": sum(1 for q in questions if q["status"] == "skipped"),
        "total": len(questions),
        "questions": questions,
        "open": any(q["shown"] for q in questions),
    }


def index_item(model: Model, qid: str, rec: AnswerRecord | None, lang: str, shown: bool) -> dict[str, Any]:
    """One question in the index; what it shows of the answer depends only on :func:`index_key`."""
    status = "open" if rec is None else ("skipped" if rec.skipped else "answered")
    q = model.any_question(qid)
    text = q.text.get(lang) if q is not None else qid
    summary = answer_line(model, qid, rec, lang)
    label = gettext(lang, _STATES[status])
    return {
        "id": qid,
        "status": status,
        "summary": summary,
        "label": f"{label}: {summary}" if summary else label,
        "short": text if len(text) <= 70 else text[:67].rstrip() + "…",
        "shown": shown,
    }


def index_key(rec: AnswerRecord | None) -> tuple[Any, ...] | None:
    """What the question index shows of an answer: open, skipped, or the answer's line."""
    if rec is None:
        return None
    if rec.skipped:
        return (True,)
    return (False, rec.options, rec.certain, rec.value)


def revision_line(model: Model, row: Any, lang: str) -> str:
    """A stored revision as a reply-format line."""
    qid = str(row.question)
    if row.skipped:
        return f"{qid} " + ("hoppa över" if lang == "sv" else "skip")
    q = model.question(qid)
    if q is not None:
        options = tuple(row.options.split()) if row.options else ()
        if options:
            return format_answer(q, options, row.certain, row.comment, lang=lang)
        return str(qid)
    vq = model.validation_question(qid)
    if vq is not None and row.value is not None:
        return format_validation(vq, row.value, lang=lang)
    return str(qid)


def lines(texts: Sequence[str]) -> str:
    return "\n".join(t for t in texts if t)


def changed_questions(before: Mapping[str, AnswerRecord], after: Mapping[str, AnswerRecord]) -> list[str]:
    return [q for q, r in after.items() if before.get(q) != r]
