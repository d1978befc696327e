"""The core path: one turn from any channel, applied and stored in one transaction.

:func:`handle_turn` loads the response's conversation state, runs the pure engine
(``conversations.engine.step``), and in the same transaction stores the new state, each
changed answer with a new revision in its history, the score when the response was
scored, an audit entry, and the turn's effects (mail to queue, via the ``effects``
callback each channel passes). Mail, web chat and the command line all come through here.

Concurrency is optimistic: the response row carries a ``version``; the update of the
row is conditional on the version read. When another turn stored first, the whole turn
is run again on the fresh state (a later answer to the same question replaces the earlier
one, and both stay in the history); the replies then say which questions someone else
had just answered. After ``max_attempts`` the turn fails with :class:`TurnConflict`,
nothing stored.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import events
from bot.db.database import Database
from bot.db.tables import (
    Answer,
    AnswerRevision,
    AuditEntry,
    Contact,
    Cycle,
    Organisation,
    Response,
    from_row,
    labelled,
    now,
    table_of,
)
from conversations.engine import Step, step
from conversations.questionnaire import Model
from conversations.replies import Note
from conversations.state import AnswerRecord, ConversationState, Turn


class TurnConflict(RuntimeError):
    """The turn kept meeting concurrent changes; nothing of it was stored."""


class ResponseNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What the shell knows around a turn, for effects to use."""

    response: Response
    organisation: Organisation
    cycle: Cycle
    contact: Contact | None
    inbound_id: int | None
    inbound_message_id: str | None = None  # as stored on the inbound row (the receipt's In-Reply-To)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    step: Step
    response_id: int
    attempts: int
    revisions: tuple[int, ...] = ()  # ids of the answer revisions the turn stored


Effects = Callable[[AsyncSession, TurnContext, Turn, Step], Awaitable[None]]
"""Runs in the turn's transaction. An effects callable may carry ``wanted(turn, step) ->
bool``; when it says False the look-ups it would need are skipped."""

RESPONSES = table_of(Response)
ANSWERS = table_of(Answer)
REVISIONS = table_of(AnswerRevision)
_ANSWER_COLUMNS = [
    ANSWERS.c[name]
    for name in (
        "question",
        "options",
        "value",
        "certain",
        "comment",
        "skipped",
        "by",
        "channel",
        "at",
        "revision",
    )
]


def _record(row: Any) -> AnswerRecord:
    return AnswerRecord(
        options=tuple(row.options.split()) if row.options else (),
        certain=row.certain,
        comment=row.comment,
        value=row.value,
        skipped=row.skipped,
        by=row.by,
        channel=row.channel,
        at=row.at,
        revision=row.revision,
    )


_ANSWER_FIELDS = ("options", "value", "certain", "comment", "skipped", "by", "channel", "at", "revision")
CYCLES = table_of(Cycle)
ORGANISATIONS = table_of(Organisation)
_ORG, _CYCLE = "organisation__", "cycle__"
# The response with its organisation and cycle in one statement: the effects need them.
_SELECT_RESPONSE = (
    sa.select(
        RESPONSES,
        *labelled(Organisation, _ORG),
        *labelled(Cycle, _CYCLE),
    )
    .join(CYCLES, CYCLES.c.id == RESPONSES.c.cycle_id)
    .join(ORGANISATIONS, ORGANISATIONS.c.id == RESPONSES.c.organisation_id)
    .where(RESPONSES.c.id == sa.bindparam("rid"))
)


def select_response_with(columns: list[Any], table: sa.Table, onclause: Any) -> sa.Select[Any]:
    """The response with its organisation and cycle, as :func:`handle_turn` reads it, and
    ``columns`` of an outer-joined ``table``: a row that a shell may pass to ``handle_turn``
    as ``row`` after looking at it (the mail channel checks the sender is a contact)."""
    return _SELECT_RESPONSE.add_columns(*columns).outerjoin(table, onclause)


def parts_of(row: Any) -> tuple[Response, Organisation, Cycle]:
    """The response, organisation and cycle of a row read as :func:`handle_turn` reads it."""
    response = from_row(Response, {k: v for k, v in row._mapping.items() if k in RESPONSES.c})
    return response, from_row(Organisation, row, _ORG), from_row(Cycle, row, _CYCLE)


_SELECT_ANSWERS = sa.select(*_ANSWER_COLUMNS).where(ANSWERS.c.response_id == sa.bindparam("rid"))
_RESPONSE_VALUES = {
    "version": sa.bindparam("new_version"),
    "status": sa.bindparam("new_status"),
    "section": sa.bindparam("new_section"),
    "sections_sent": sa.bindparam("new_sections_sent"),
    "last_activity_at": sa.bindparam("at", type_=RESPONSES.c.last_activity_at.type),
}
_RESPONSE_WHERE = (RESPONSES.c.id == sa.bindparam("rid"), RESPONSES.c.version == sa.bindparam("old_version"))
_UPDATE_RESPONSE = RESPONSES.update().where(*_RESPONSE_WHERE).values(_RESPONSE_VALUES)
_UPDATE_ANSWER = (
    ANSWERS.update()
    .where(ANSWERS.c.response_id == sa.bindparam("rid"), ANSWERS.c.question == sa.bindparam("q"))
    .values({name: sa.bindparam(name, type_=ANSWERS.c[name].type) for name in _ANSWER_FIELDS})
)
_INSERT_ANSWER = ANSWERS.insert()
_INSERT_REVISION = REVISIONS.insert()
_INSERT_REVISIONS = REVISIONS.insert().returning(REVISIONS.c.id)  # several rows, with their ids
_INSERT_AUDIT = table_of(AuditEntry).insert()


def _update_response(extra: Mapping[str, Any]) -> sa.Update:
    """The conditional update of the response row, with the turn's extra columns if any."""
    if not extra:
        return _UPDATE_RESPONSE
    values: dict[str, Any] = dict(_RESPONSE_VALUES)
    for name in extra:
        values[name] = sa.bindparam(f"extra_{name}", type_=RESPONSES.c[name].type)
    return RESPONSES.update().where(*_RESPONSE_WHERE).values(values)


def state_from_rows(
    response: Any, rows: Any, answers: Mapping[str, AnswerRecord] | None = None
) -> ConversationState:
    """A conversation state from a response row and its answer rows (or its ``answers``).

    When the row carries its cycle's status, a closed cycle locks the conversation (no
    answers, no withdrawal) unless the administrator reopened this response.
    """
    cycle_status = getattr(response, _CYCLE + "status", None)
    reopened = getattr(response, "reopened_until", None)
    locked = cycle_status == "closed" and not (reopened is not None and reopened >= now().date())
    return ConversationState(
        locked=locked,
        status=response.status,
        answers=answers if answers is not None else {row.question: _record(row) for row in rows},
        section=response.section,
        sections_sent=frozenset(response.sections_sent.split()),
        version=response.version,
        level=(response.score or {}).get("level"),
    )


# The answers of recently stored responses, per database: a turn whose response row shows
# the version (and creation time) they were stored at skips reading its answer rows. Only
# handle_turn writes answers, and every change of them bumps the version, in any process.
_ANSWER_MEMO_SIZE = 1024
_answer_memo: weakref.WeakKeyDictionary[
    Database, OrderedDict[int, tuple[Any, int, Mapping[str, AnswerRecord]]]
] = weakref.WeakKeyDictionary()


def _known_answers(db: Database, response: Any) -> Mapping[str, AnswerRecord] | None:
    memo = _answer_memo.get(db)
    known = memo.get(response.id) if memo is not None else None
    if known is None or known[0] != response.created_at or known[1] != response.version:
        return None
    return known[2]


def _remember_answers(db: Database, response: Any, state: ConversationState) -> None:
    memo = _answer_memo.get(db)
    if memo is None:
        memo = _answer_memo[db] = OrderedDict()
    memo[response.id] = (response.created_at, state.version, state.answers)
    memo.move_to_end(response.id)
    if len(memo) > _ANSWER_MEMO_SIZE:
        memo.popitem(last=False)


async def load_state(session: AsyncSession, response: Response | Any) -> ConversationState:
    """The conversation state of a response as stored."""
    conn = await session.connection()
    rows = await conn.execute(_SELECT_ANSWERS, {"rid": response.id})
    return state_from_rows(response, rows)


def _values(record: AnswerRecord) -> dict[str, Any]:
    return {
        "options": " ".join(record.options),
        "value": record.value,
        "certain": record.certain,
        "comment": record.comment,
        "skipped": record.skipped,
        "by": record.by,
        "channel": record.channel,
        "at": record.at,
        "revision": record.revision,
    }


async def _store(
    conn: AsyncConnection,
    response: Any,
    before: ConversationState,
    result: Step,
    turn: Turn,
    inbound_id: int | None,
) -> tuple[int, ...] | None:
    """Store the step: the ids of the answer revisions it stored, or None when the response
    changed since it was read (nothing stored)."""
    new = result.state
    if new.version == before.version:
        return ()
    extra: dict[str, Any] = {}
    if result.result is not None:
        extra["score"] = result.result.to_dict()
    if before.status == "invited" and new.status != "invited":
        extra["started_at"] = turn.at
    if new.status == "completed" and before.status != "completed":
        extra["completed_at"] = turn.at
    if new.status == "submitted" and before.status != "submitted":
        extra["submitted_at"] = turn.at
    if new.status == "completed" and before.status == "submitted":
        extra["submitted_at"] = None
    # one conditional update: the new state and the turn's extra columns, or nothing
    updated = await conn.execute(
        _update_response(extra),
        {
            "rid": response.id,
            "old_version": before.version,
            "new_version": new.version,
            "new_status": new.status,
            "new_section": new.section,
            "new_sections_sent": " ".join(sorted(new.sections_sent)),
            "at": turn.at,
            **{f"extra_{name}": value for name, value in extra.items()},
        },
    )
    if updated.rowcount != 1:
        return None
    updates, inserts, revisions = [], [], []
    for qid, record in result.changes.items():
        row = _values(record)
        if qid in before.answers:
            updates.append({"rid": response.id, "q": qid, **row})
        else:
            inserts.append({"response_id": response.id, "question": qid, **row})
        revisions.append({"response_id": response.id, "question": qid, "inbound_id": inbound_id, **row})
    if updates:
        await conn.execute(_UPDATE_ANSWER, updates)
    if inserts:
        await conn.execute(_INSERT_ANSWER, inserts)
    ids: tuple[int, ...] = ()
    if len(revisions) == 1:  # the usual turn: its id from the driver (SQLite's lastrowid)
        ids = tuple((await conn.execute(_INSERT_REVISION, revisions[0])).inserted_primary_key or ())
    elif revisions:
        ids = tuple((await conn.execute(_INSERT_REVISIONS, revisions)).scalars())
    if new.status != before.status:
        await conn.execute(
            _INSERT_AUDIT,
            {
                "at": turn.at,
                "actor": turn.actor.email,
                "action": f"response.{new.status}",
                "organisation_id": response.organisation_id,
                "response_id": response.id,
                "details": {"from": before.status, "to": new.status, "channel": turn.channel},
            },
        )
    return ids


def _concurrent_notes(
    first: Mapping[str, AnswerRecord], now: Mapping[str, AnswerRecord], result: Step
) -> tuple[Note, ...]:
    """Notes for questions this turn answers that someone else changed meanwhile."""
    notes = []
    for qid in result.changes:
        a, b = first.get(qid), now.get(qid)
        if b is not None and (a is None or a.revision != b.revision):
            notes.append(Note("concurrent_change", qid, b.by))
    return tuple(notes)


async def handle_turn(
    db: Database,
    model: Model,
    response_id: int,
    turn: Turn,
    *,
    effects: Effects | None = None,
    contact: Contact | None = None,
    inbound_id: int | None = None,
    row: Any = None,
    max_attempts: int = 5,
) -> TurnOutcome:
    """Apply one turn to a response and store everything it causes, atomically.

    The response is read with its organisation and cycle, which the effects get too. A
    ``row`` read just before (:func:`select_response_with`) stands in for that read on the
    first attempt: the update of the response is conditional on the version the row shows,
    so a change since then means a second attempt on a fresh read.

    Raises:
        ResponseNotFound: no response with this id.
        TurnConflict: the response kept changing under the turn; nothing was stored.
    """
    first_answers: Mapping[str, AnswerRecord] | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            async with db.connection() as conn:
                if row is not None and attempt == 1 and row.id == response_id:
                    response = row
                else:
                    response = (await conn.execute(_SELECT_RESPONSE, {"rid": response_id})).first()
                if response is None:
                    raise ResponseNotFound(f"no response {response_id}")
                if response.model_id != model.id:
                    raise ValueError(f"response {response_id} uses model {response.model_id}, not {model.id}")
                known = _known_answers(db, response)
                if known is None:
                    state = state_from_rows(
                        response, await conn.execute(_SELECT_ANSWERS, {"rid": response_id})
                    )
                else:
                    state = state_from_rows(response, (), known)
                if first_answers is None:
                    first_answers = state.answers
                result = step(model, state, turn)
                if attempt > 1:
                    notes = _concurrent_notes(first_answers, state.answers, result)
                    if notes:
                        result = replace(result, replies=result.replies + notes)
                revisions = await _store(conn, response, state, result, turn, inbound_id)
                if revisions is None:
                    raise _Retry
                wanted = getattr(effects, "wanted", None)
                if effects is not None and (wanted is None or wanted(turn, result)):
                    _, organisation, cycle = parts_of(response)
                    ctx = TurnContext(
                        _response_after(response, result), organisation, cycle, contact, inbound_id
                    )
                    # an ORM session only for effects (most chat turns have none), in this transaction
                    # and a savepoint of its own: a failed flush rolls back the effects' work, not
                    # the transaction (which on SQLite other turns may share: bot/db/writers.py)
                    session = AsyncSession(
                        bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
                    )
                    try:
                        await effects(session, ctx, turn, result)
                        await session.commit()  # releases the savepoint; the turn commits later
                    finally:
                        await session.close()
            _remember_answers(db, response, result.state)  # committed: the answers as stored
            if result.state.version != state.version:
                events.publish(response_id)
            return TurnOutcome(result, response_id, attempt, revisions)
        except _Retry:
            continue
        except OperationalError as exc:  # SQLite: locked beyond the busy timeout
            if "locked" not in str(exc).lower() or attempt == max_attempts:
                raise
    raise TurnConflict(f"response {response_id}: {max_attempts} attempts met concurrent changes")


def _response_after(row: Any, result: Step) -> Response:
    """The response as stored after the turn (without reading it back)."""
    values = {k: v for k, v in row._mapping.items() if k in RESPONSES.c}
    new = result.state
    values.update(version=new.version, status=new.status, section=new.section,
                  sections_sent=" ".join(sorted(new.sections_sent)))  # fmt: skip
    if result.result is not None:
        values["score"] = result.result.to_dict()
    return from_row(Response, values)


class _Retry(Exception):
    """The response's version moved on; run the turn again."""
