"""The deadline: responses become read-only, and one organisation can be let back in.

:func:`close_cycle` closes every response of the cycle that is not submitted (transition
``close``), with an audit entry each, and the cycle itself, in one transaction. The rows are
locked first (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), and every update is
conditional on the status read, with the response's version bumped, so that a turn stored
at the same moment is either in before the close or retried after it and refused ("the
answering time is over"): a submission just before midnight is never lost. After the
deadline the engine answers every mail with the polite "closed" receipt.

:func:`reopen` lets one organisation answer again (transition ``reopen``: closed →
in progress) until a given day, tells its coordinators, and the scheduler closes it again
after that day (:func:`close_due`). Both are audited.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cycle.launch import CycleError, get_cycle, reachable
from bot.cycle.times import closes_at, local_day, zone
from bot.db.database import Database
from bot.db.queries import find_organisation
from bot.db.tables import AuditEntry, Contact, Cycle, Response
from bot.mail.outbox import enqueue
from bot.reminders.mail import cycle_message
from bot.responses import NoCoordinator, start_response
from bot.settings import Settings
from conversations.questionnaire import Model
from conversations.state import transition

RESPONSES: sa.Table = SQLModel.metadata.tables["responses"]
REOPEN_DAYS = 14  # how long a reopened response stays open when no day is given


@dataclass(frozen=True, slots=True)
class Closed:
    cycle: str
    closed: int  # responses closed now
    submitted: int  # responses that stay submitted
    already: bool = False  # the cycle was closed before


async def _close_responses(
    session: AsyncSession, where: sa.ColumnElement[bool], now: datetime, actor: str, reason: str
) -> int:
    """Close the responses matching ``where`` that are not submitted; returns how many."""
    closable = [s for s in ("invited", "in_progress", "completed") if transition(s, "close")]
    query = sa.select(RESPONSES.c.id, RESPONSES.c.organisation_id, RESPONSES.c.status).where(
        where, RESPONSES.c.status.in_(closable)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    conn = await session.connection()
    rows = (await conn.execute(query)).all()
    closed = 0
    for row in rows:
        done = await conn.execute(
            RESPONSES.update()
            .where(RESPONSES.c.id == row.id, RESPONSES.c.status == row.status)
            .values(status="closed", closed_at=now, version=RESPONSES.c.version + 1)
        )
        if done.rowcount:
            closed += 1
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor,
                    action="response.closed",
                    organisation_id=row.organisation_id,
                    response_id=row.id,
                    details={"from": row.status, "to": "closed", "reason": reason},
                )
            )
    return closed


async def close_cycle(db: Database, name: str, *, now: datetime, actor: str = "cli") -> Closed:
    """Close cycle ``name`` and every response in it that is not submitted.

    Raises:
        CycleError: no such cycle.
    """
    async with db.transaction() as session:
        cycle = await get_cycle(session, name)
        if cycle.status == "closed":
            return Closed(name, 0, 0, already=True)
        closed = await _close_responses(session, RESPONSES.c.cycle_id == cycle.id, now, actor, "deadline")
        submitted = len(
            (
                await session.exec(
                    select(Response.id).where(Response.cycle_id == cycle.id, Response.status == "submitted")
                )
            ).all()
        )
        done = await session.exec(
            sa.update(Cycle)
            .where(col(Cycle.id) == cycle.id, col(Cycle.status) != "closed")
            .values(status="closed", closed_at=now)
        )
        if not done.rowcount:
            raise _Raced
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="cycle.close",
                details={"cycle_id": cycle.id, "name": name, "closed": closed, "submitted": submitted},
            )
        )
    return Closed(name, closed, submitted)


class _Raced(Exception):
    """Another process closed the cycle meanwhile; this attempt is rolled back."""


async def close_due(db: Database, settings: Settings, *, now: datetime) -> list[Closed]:
    """Close every launched cycle whose deadline has passed, and every reopening that ran out."""
    tz = zone(settings.timezone)
    out = []
    async with db.transaction(readonly=True) as session:
        cycles = (await session.exec(select(Cycle).where(Cycle.status == "launched"))).all()
        reopened = (
            await session.exec(
                select(Response).where(
                    col(Response.reopened_until).is_not(None),
                    col(Response.status).in_(["invited", "in_progress", "completed"]),
                )
            )
        ).all()
    for cycle in cycles:
        if now >= closes_at(cycle.deadline, tz):
            with contextlib.suppress(_Raced):
                out.append(await close_cycle(db, cycle.name, now=now, actor="system"))
    expired = [
        r.id for r in reopened if r.reopened_until is not None and now >= closes_at(r.reopened_until, tz)
    ]
    if expired:
        async with db.transaction() as session:
            await _close_responses(session, RESPONSES.c.id.in_(expired), now, "system", "reopening ended")
    return out


@dataclass(frozen=True, slots=True)
class Reopened:
    organisation: str
    response_id: int
    until: date
    started: bool  # the organisation had no response: it was started now
    notified: int


async def reopen(
    db: Database,
    settings: Settings,
    model: Model,
    name: str,
    org_ref: str,
    *,
    now: datetime,
    until: date | None = None,
    actor: str = "cli",
) -> Reopened:
    """Let one organisation answer cycle ``name`` again until the end of ``until``.

    Raises:
        CycleError: no such cycle, the response is not closed, nobody to write to.
        bot.db.queries.NotFound / Ambiguous: the organisation reference.
    """
    tz = zone(settings.timezone)
    today = local_day(now, tz)
    until = until or today + timedelta(days=REOPEN_DAYS)
    if until < today:
        raise CycleError(f"dagen {until} har redan passerat")
    async with db.transaction() as session:
        cycle = await get_cycle(session, name)
        org = await find_organisation(session, org_ref)
        assert org.id is not None and cycle.id is not None
        response = (
            await session.exec(
                select(Response).where(Response.organisation_id == org.id, Response.cycle_id == cycle.id)
            )
        ).first()
        contacts = list((await session.exec(select(Contact).where(Contact.organisation_id == org.id))).all())
        started = False
        if response is None:
            try:
                result = await start_response(session, settings, model, org, cycle, actor=actor)
            except NoCoordinator:
                raise CycleError(f"{org.name} har ingen samordnare att skicka till") from None
            response, started = result.response, True
            response.created_at = now
        elif response.status != "closed":
            raise CycleError(f"svaret för {org.name} är inte stängt (status {response.status})")
        else:
            new = transition("closed", "reopen")
            assert new is not None
            done = await session.exec(
                sa.update(Response)
                .where(col(Response.id) == response.id, col(Response.status) == "closed")
                .values(status=new, closed_at=None, version=col(Response.version) + 1)
            )
            if not done.rowcount:
                raise CycleError(f"svaret för {org.name} ändrades just; försök igen")
            await session.refresh(response)
        response.reopened_until = until
        session.add(response)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="response.reopened",
                organisation_id=org.id,
                response_id=response.id,
                details={"until": until.isoformat(), "started": started},
            )
        )
        notified = 0
        assert response.id is not None
        for contact in reachable(contacts, "coordinator"):
            msg = cycle_message(
                settings,
                model,
                "reopened",
                contact=contact,
                organisation=org,
                cycle=cycle,
                today=today,
                response=response,
                until=until,
            )
            key = f"reopened:{response.id}:{response.version}:{contact.email}"
            notified += await enqueue(session, msg, key=key, kind="notice", response_id=response.id)
    return Reopened(org.name, response.id, until, started, notified)
