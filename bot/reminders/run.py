"""Running the reminder plan: record what is due, then claim and send it, exactly once.

:func:`run_reminders` does one pass at a given moment (``assessbot reminders run``, the
scheduler of ``serve``). For every launched cycle it reads the organisations as the plan
needs them (:func:`load_states`) and asks :func:`bot.reminders.plan.decide` what is due.

**Record.** Each decision becomes a ``reminders`` row, ``planned`` (to send) or ``skipped``
with its reason, inserted with ``ON CONFLICT DO NOTHING`` on the unique key (cycle,
organisation, contact, step), in key order (so that two processes inserting the same rows
wait for each other instead of deadlocking). A step decided once is never decided again.

**Claim and send.** Then due ``planned`` rows are taken in small batches, each in one
transaction: on PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` (concurrent runners take
disjoint rows and never wait for each other), on SQLite under ``BEGIN IMMEDIATE`` (one writer
at a time). Under that lock each row is checked again (the response may have been completed,
the address may have started to bounce, the contact may have paused or gone away since the
row was planned), the mail is rendered and put in the outbox under the key ``reminder:`` +
the reminder key, and the row is marked ``sent``, all in the same transaction. A crash
anywhere rolls the batch back as a whole: nothing is marked sent that was not queued, and
nothing queued stays ``planned``. The claim is the row lock, so no half-claimed state can
survive a crash; an outbox key already present makes even a second enqueue a no-op.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cycle.times import closes_at, local_day
from bot.db.database import Database
from bot.db.tables import Answer, Contact, Cycle, Organisation, Reminder, Response
from bot.mail.outbox import enqueue
from bot.reminders.mail import cycle_message
from bot.reminders.plan import (
    DONE_STATUSES,
    CycleTimes,
    Decision,
    OrgState,
    Past,
    Person,
    Policy,
    decide,
    is_allowed,
    next_allowed,
)
from bot.settings import Settings
from conversations.questionnaire import Model

log = logging.getLogger(__name__)

# Reminders rendered per claiming transaction: keeps SQLite's writer lock (and the event loop) free.
BATCH = 20
REMINDERS: sa.Table = SQLModel.metadata.tables["reminders"]
_UNIQUE = ["cycle_id", "organisation_id", "contact_id", "step"]
_SILENT_INBOUND = ("auto_reply", "bounce", "failed")
Render = Callable[..., EmailMessage]


def paused_in(contact: Contact, cycle: Cycle) -> bool:
    """A pause lasts for the cycle it was asked in (or for good when set by hand)."""
    if not contact.reminders_paused:
        return False
    at = contact.reminders_paused_at
    return at is None or cycle.launched_at is None or at >= cycle.launched_at


@dataclass(frozen=True, slots=True)
class Line:
    """One reminder of a run, for the report."""

    cycle: str
    organisation: str
    email: str
    step: str
    kind: str
    due_at: datetime
    status: str  # sent | skipped | postponed | would send | would skip
    reason: str = ""


@dataclass
class RunReport:
    lines: list[Line] = field(default_factory=list)
    quiet_until: datetime | None = None  # the run fell in quiet time: nothing is sent before this

    def count(self, status: str) -> int:
        return sum(1 for line in self.lines if line.status == status)

    @property
    def sent(self) -> int:
        return self.count("sent")


@dataclass(frozen=True, slots=True)
class Loaded:
    cycle: Cycle
    times: CycleTimes
    states: list[OrgState]
    names: dict[int, str]


async def load_states(session: AsyncSession, cycle: Cycle, model: Model, policy: Policy) -> Loaded:
    """Every organisation of ``cycle`` as the plan sees it (one query per table, no ORM objects:
    the scheduler does this every minute)."""
    assert cycle.id is not None
    conn = await session.connection()
    t = SQLModel.metadata.tables
    orgs, contacts, responses, answers, inbound, reminders = (
        t[n] for n in ("organisations", "contacts", "responses", "answers", "inbound_messages", "reminders")
    )
    names = {row.id: row.name for row in await conn.execute(sa.select(orgs.c.id, orgs.c.name))}
    rows = (
        await conn.execute(
            sa.select(
                responses.c.id,
                responses.c.organisation_id,
                responses.c.status,
                responses.c.created_at,
                responses.c.last_activity_at,
            ).where(responses.c.cycle_id == cycle.id)
        )
    ).all()
    by_org = {r.organisation_id: r for r in rows}
    done = {r.organisation_id for r in rows if r.status in DONE_STATUSES}
    level = [q.id for q in model.questions]
    done_answers: dict[int, int] = {}  # response → level questions answered or skipped
    if len(done) < len(rows):
        open_responses = sa.select(responses.c.id).where(
            responses.c.cycle_id == cycle.id, responses.c.status.in_(("invited", "in_progress"))
        )
        query = (
            sa.select(answers.c.response_id, sa.func.count())
            .where(answers.c.response_id.in_(open_responses), answers.c.question.in_(level))
            .group_by(answers.c.response_id)
        )
        done_answers = {response_id: n for response_id, n in (await conn.execute(query)).all()}
    past: dict[int, list[Past]] = defaultdict(list)
    launch_at: dict[int, datetime] = {}
    query = sa.select(
        reminders.c.organisation_id, reminders.c.contact_id, reminders.c.step, reminders.c.sent_at
    ).where(reminders.c.cycle_id == cycle.id)
    for org_id, contact_id, step, sent_at in (await conn.execute(query)).all():
        if org_id in done:
            continue
        past[org_id].append(Past(contact_id, step, sent_at))
        if step == "launch" and sent_at is not None:
            launch_at[org_id] = min(launch_at.get(org_id, sent_at), sent_at)
    mail_at: dict[str, datetime] = {}
    if cycle.launched_at is not None:
        query = (
            sa.select(inbound.c.sender, sa.func.max(inbound.c.received_at))
            .where(inbound.c.received_at >= cycle.launched_at, inbound.c.status.not_in(_SILENT_INBOUND))
            .group_by(inbound.c.sender)
        )
        mail_at = {sender: at for sender, at in await conn.execute(query)}
    people: dict[int, list[Person]] = defaultdict(list)
    launched = cycle.launched_at or datetime.min.replace(tzinfo=UTC)
    done_orgs = sa.select(responses.c.organisation_id).where(
        responses.c.cycle_id == cycle.id, responses.c.status.in_(DONE_STATUSES)
    )
    query = sa.select(
        contacts.c.id,
        contacts.c.organisation_id,
        contacts.c.email,
        contacts.c.language,
        contacts.c.coordinator,
        contacts.c.manager,
        contacts.c.active,
        contacts.c.failing_since.is_not(None),
        contacts.c.away_until,
        sa.and_(
            contacts.c.reminders_paused,
            sa.or_(contacts.c.reminders_paused_at.is_(None), contacts.c.reminders_paused_at >= launched),
        ),
    ).where(contacts.c.organisation_id.not_in(done_orgs))
    for cid, org_id, email, language, coordinator, manager, active, failing, away, paused in (
        await conn.execute(query)
    ).all():
        flags = (bool(failing), bool(paused))
        person = Person(cid, email, language, coordinator, manager, active, *flags, away, mail_at.get(email))
        people[org_id].append(person)
    states = []
    for org_id in sorted(names):
        response = by_org.get(org_id)
        if org_id in done:
            continue  # nothing more to remind it of
        if response is None:
            if org_id in launch_at:  # management got the launch letter
                states.append(OrgState(org_id, launch_at[org_id], people=tuple(people.get(org_id, ())),
                                       past=tuple(past.get(org_id, ()))))  # fmt: skip
            continue
        states.append(
            OrgState(
                id=org_id,
                invited_at=response.created_at,
                response_id=response.id,
                status=response.status,
                last_activity_at=response.last_activity_at,
                left=max(0, len(level) - done_answers.get(response.id, 0)),
                total=len(level),
                people=tuple(people.get(org_id, ())),
                past=tuple(past.get(org_id, ())),
            )
        )
    times = CycleTimes(cycle.id, cycle.deadline, closes_at(cycle.deadline, policy.zone))
    return Loaded(cycle, times, states, names)


async def launched_cycles(session: AsyncSession, name: str | None = None) -> list[Cycle]:
    query = select(Cycle).where(Cycle.status == "launched")
    if name is not None:
        query = query.where(Cycle.name == name)
    return list((await session.exec(query.order_by(col(Cycle.launch), col(Cycle.id)))).all())


async def run_reminders(
    db: Database,
    settings: Settings,
    model: Model,
    *,
    now: datetime,
    dry_run: bool = False,
    cycle_name: str | None = None,
    batch: int = BATCH,
    render: Render = cycle_message,
) -> RunReport:
    """Record and send every reminder due at ``now`` (see the module docstring).

    With ``dry_run`` nothing is written: the report lists what would be sent and skipped.
    ``render`` makes the mail (:func:`bot.reminders.mail.cycle_message`; a simulation of a
    whole cycle may pass a cheaper one).
    """
    policy = Policy.from_settings(settings)
    report = RunReport()
    if not is_allowed(now, policy):  # quiet hours or a weekend: everything waits for the morning
        report.quiet_until = next_allowed(now, policy)
        return report
    async with db.transaction(readonly=True) as session:
        cycles = await launched_cycles(session, cycle_name)
    for cycle in cycles:
        if now >= closes_at(cycle.deadline, policy.zone):
            continue  # past the deadline: the scheduler (or `cycle close`) closes it
        async with db.transaction(readonly=True) as session:
            loaded = await load_states(session, cycle, model, policy)
        decisions = [d for org in loaded.states for d in decide(loaded.times, org, policy, now)]
        if dry_run:
            report.lines.extend(await _dry_run(db, loaded, decisions, now))
            continue
        for d in await _record(db, cycle, decisions, now):
            if d.status == "skipped":
                report.lines.append(_line(loaded, d, "skipped"))
        while True:
            lines = await _claim_and_send(db, settings, model, policy, cycle, now, batch, render)
            if lines is None:
                break
            report.lines.extend(lines)
    return report


def _line(loaded: Loaded, d: Decision, status: str) -> Line:
    c = d.candidate
    return Line(
        loaded.cycle.name,
        loaded.names.get(c.organisation_id, str(c.organisation_id)),
        c.email,
        c.step,
        c.kind,
        c.due_at,
        status,
        d.reason,
    )


async def _dry_run(db: Database, loaded: Loaded, decisions: Sequence[Decision], now: datetime) -> list[Line]:
    lines = [_line(loaded, d, "would send" if d.status == "planned" else "would skip") for d in decisions]
    async with db.transaction(readonly=True) as session:
        waiting = (
            await session.exec(
                select(Reminder).where(
                    Reminder.cycle_id == loaded.cycle.id,
                    Reminder.status == "planned",
                    col(Reminder.due_at) <= now,
                )
            )
        ).all()
    for r in waiting:
        assert r.due_at is not None
        name = loaded.names.get(r.organisation_id, str(r.organisation_id))
        lines.append(Line(loaded.cycle.name, name, r.recipient, r.step, r.kind, r.due_at, "would send"))
    return lines


async def _record(db: Database, cycle: Cycle, decisions: Sequence[Decision], now: datetime) -> list[Decision]:
    """Insert the decisions not recorded yet, in key order; returns those this call inserted."""
    ordered = sorted(
        decisions, key=lambda d: (d.candidate.organisation_id, d.candidate.contact_id, d.candidate.step)
    )
    inserted: list[Decision] = []
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = [
            {
                "cycle_id": cycle.id,
                "organisation_id": d.candidate.organisation_id,
                "contact_id": d.candidate.contact_id,
                "response_id": d.candidate.response_id,
                "step": d.candidate.step,
                "kind": d.candidate.kind,
                "recipient": d.candidate.email,
                "due_at": d.candidate.due_at,
                "status": d.status,
                "reason": d.reason,
                "details": dict(d.details) or None,
                "created_at": now,
            }
            for d in chunk
        ]
        async with db.transaction() as session:
            insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
            stmt = (
                insert(REMINDERS)
                .values(rows)
                .on_conflict_do_nothing(index_elements=_UNIQUE)
                .returning(REMINDERS.c.organisation_id, REMINDERS.c.contact_id, REMINDERS.c.step)
            )
            done = {tuple(r) for r in (await (await session.connection()).execute(stmt)).all()}
        inserted += [
            d
            for d in chunk
            if (d.candidate.organisation_id, d.candidate.contact_id, d.candidate.step) in done
        ]
    return inserted


async def _claim_and_send(
    db: Database,
    settings: Settings,
    model: Model,
    policy: Policy,
    cycle: Cycle,
    now: datetime,
    batch: int,
    render: Render,
) -> list[Line] | None:
    """Claim one batch of due reminders and send them; None when nothing is left to claim."""
    async with db.transaction() as session:
        query = (
            select(Reminder)
            .where(Reminder.cycle_id == cycle.id, Reminder.status == "planned", col(Reminder.due_at) <= now)
            .order_by(col(Reminder.id))
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list((await session.exec(query)).all())
        if not rows:
            return None
        batch_context = await _Batch.load(session, cycle, rows, model)
        return [
            await batch_context.deliver(session, settings, model, policy, row, now, render) for row in rows
        ]


@dataclass
class _Batch:
    """What a batch of reminders needs to be checked and rendered, read at once."""

    cycle: Cycle
    organisations: dict[int, Organisation]
    contacts: dict[int, Contact]
    people: dict[int, list[Contact]]
    responses: dict[int, Response]  # by organisation
    answered: dict[int, set[str]]  # by response

    @classmethod
    async def load(
        cls, session: AsyncSession, cycle: Cycle, rows: Sequence[Reminder], model: Model
    ) -> _Batch:
        fresh = await session.get(Cycle, cycle.id, populate_existing=True)
        assert fresh is not None
        org_ids = sorted({r.organisation_id for r in rows})
        organisations = {
            o.id or 0: o
            for o in (await session.exec(select(Organisation).where(col(Organisation.id).in_(org_ids)))).all()
        }
        people: dict[int, list[Contact]] = defaultdict(list)
        contacts: dict[int, Contact] = {}
        for c in (await session.exec(select(Contact).where(col(Contact.organisation_id).in_(org_ids)))).all():
            people[c.organisation_id].append(c)
            contacts[c.id or 0] = c
        responses = {
            r.organisation_id: r
            for r in (
                await session.exec(
                    select(Response).where(
                        Response.cycle_id == cycle.id, col(Response.organisation_id).in_(org_ids)
                    )
                )
            ).all()
        }
        answered: dict[int, set[str]] = defaultdict(set)
        level = [q.id for q in model.questions]
        if responses:
            query = select(Answer.response_id, Answer.question).where(
                col(Answer.response_id).in_([r.id for r in responses.values()]),
                col(Answer.skipped).is_(False),
                col(Answer.question).in_(level),
            )
            for response_id, question in (await session.exec(query)).all():
                answered[response_id].add(question)
        return cls(fresh, organisations, contacts, people, responses, answered)

    async def deliver(
        self,
        session: AsyncSession,
        settings: Settings,
        model: Model,
        policy: Policy,
        row: Reminder,
        now: datetime,
        render: Render,
    ) -> Line:
        """Check ``row`` again under the lock; send it, skip it or postpone it."""
        organisation = self.organisations.get(row.organisation_id) or Organisation(
            id=row.organisation_id, name=str(row.organisation_id), type=""
        )
        assert row.due_at is not None

        def line(status: str, reason: str = "") -> Line:
            assert row.due_at is not None
            return Line(self.cycle.name, organisation.name, row.recipient, row.step, row.kind, row.due_at,
                        status, reason)  # fmt: skip

        def skip(reason: str) -> Line:
            row.status, row.reason = "skipped", reason
            session.add(row)
            return line("skipped", reason)

        closes = closes_at(self.cycle.deadline, policy.zone)
        contact = self.contacts.get(row.contact_id)
        response = self.responses.get(row.organisation_id)
        if self.cycle.status != "launched" or now >= closes:
            return skip("the cycle is closed")
        if row.organisation_id not in self.organisations:
            return skip("the organisation no longer exists")
        if contact is None or not contact.active:
            return skip("the contact is no longer active")
        if contact.failing_since is not None:
            return skip("the address bounces")
        if paused_in(contact, self.cycle):
            return skip("paused by the contact")
        if contact.away_until is not None and contact.away_until > now:
            later = next_allowed(contact.away_until, policy)
            if later >= closes:
                return skip("away until after the deadline")
            row.due_at = later
            session.add(row)
            return line("postponed", f"away until {contact.away_until.isoformat()}")
        if response is not None and response.status in DONE_STATUSES:
            return skip(f"the response is {response.status}")
        people = self.people.get(row.organisation_id, [])
        coordinators = [c for c in people if c.coordinator and c.active]
        if row.kind == "appoint" and any(c.failing_since is None for c in coordinators):
            return skip("a coordinator has been appointed")
        if row.kind == "escalation" and response is not None:
            since = (row.details or {}).get("silent_since")
            if (
                since
                and response.last_activity_at
                and response.last_activity_at >= datetime.fromisoformat(since)
            ):
                return skip("the coordinator answered")
        answered = self.answered.get(response.id or 0, set()) if response is not None else set()
        weeks = 0
        if row.kind == "inactivity" and response is not None:
            silence = response.last_activity_at or response.created_at or now
            weeks = max(1, (now - silence).days // 7)
        try:
            msg = render(
                settings,
                model,
                row.kind,
                contact=contact,
                organisation=organisation,
                cycle=self.cycle,
                today=local_day(now, policy.zone),
                response=response,
                answered=answered,
                coordinators=[c.email for c in coordinators],
                weeks=weeks,
                started=bool(answered),
            )
        except Exception as exc:  # a mail that cannot be made must not hold up every reminder behind it
            log.exception("reminder %s could not be rendered", row.key)
            return skip(f"the mail could not be made ({exc.__class__.__name__})")
        await enqueue(
            session,
            msg,
            key=f"reminder:{row.key}",
            kind="reminder",
            response_id=response.id if response is not None else None,
        )
        row.status, row.sent_at, row.recipient = "sent", now, contact.email
        session.add(row)
        return line("sent")


def describe(report: RunReport) -> dict[str, Any]:
    """Counts of a run's report by status."""
    counts: dict[str, int] = defaultdict(int)
    for line in report.lines:
        counts[line.status] += 1
    return dict(counts)
