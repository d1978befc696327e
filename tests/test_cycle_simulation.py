"""A whole national cycle, simulated with a controllable clock, on SQLite and PostgreSQL.

650 organisations (290 kommuner, 21 regioner, 339 myndigheter) from launch (Monday 1 March
2027, 09:00) to the deadline (31 October 2027) and past it, with behaviour drawn from a
seeded random generator: 20 % answer everything within two weeks, 30 % gradually, 15 %
late (in the last month), 25 % never, 5 % have a coordinator whose address bounces, 5 %
are away over the summer (an out-of-office with a return date). Some organisations have
only management at launch (half of them appoint a coordinator, half never do); some
contacts reply ``pausa``.

Time is passed explicitly everywhere (no sleeping, no clock patching): answers are turns
through ``bot.turn.handle_turn`` at their simulated moment, and the scheduler's pass (what
``bot.scheduler.tick`` does: close what is past its deadline, run the reminders) runs
every weekday at 09:00, at night every Wednesday (22:00) and on Saturdays (11:00). Every
reminder that went out is then checked against the behaviour: what must have been sent,
and what must not have been.

The launch mailing is rendered in full. The thousands of reminders are rendered by a
light stand-in (To, Subject, Message-ID), so that the simulation runs in CI time; their
real rendering (every kind, both languages) is tested in ``test_reminders_run.py``.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.cycle.appoint import register_coordinator
from bot.cycle.deadline import close_due
from bot.cycle.launch import launch_cycle
from bot.cycle.times import closes_at
from bot.db.database import Database
from bot.db.tables import AuditEntry, Contact, Cycle, Organisation, OutboxMessage, Reminder, Response
from bot.effects import mail_effects
from bot.mail.compose import reply_address
from bot.mail.ingest import Ingestor
from bot.reminders.plan import Policy, is_allowed
from bot.reminders.run import Line, run_reminders
from bot.scheduler import tick
from bot.settings import Settings
from bot.turn import handle_turn
from conversations.questionnaire import Model
from conversations.state import Actor, Turn

TZ = ZoneInfo("Europe/Stockholm")
DEADLINE = date(2027, 10, 31)
LAUNCH = datetime(2027, 3, 1, 9, 0, tzinfo=TZ)
CLOSES = closes_at(DEADLINE, TZ)
AWAY_FROM = datetime(2027, 6, 14, 10, 0, tzinfo=TZ)
AWAY_UNTIL = datetime(2027, 8, 20, 8, 0, tzinfo=TZ)
TYPES = ["kommun"] * 290 + ["region"] * 21 + ["myndighet"] * 339
BEHAVIOURS = [
    ("quick", 0.20),
    ("gradual", 0.30),
    ("late", 0.15),
    ("never", 0.25),
    ("bounce", 0.05),
    ("away", 0.05),
]


def local(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), TZ)


def weekday_at(rng: random.Random, start: datetime, end: datetime, evening: float = 0.1) -> datetime:
    """A random working moment between ``start`` and ``end`` (sometimes an evening)."""
    for _ in range(100):
        day = (start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))).date()
        if day.weekday() >= 5:
            continue
        hour = rng.randint(19, 21) if rng.random() < evening else rng.randint(8, 16)
        at = local(day, hour, rng.randint(0, 59))
        if start <= at < end:
            return at
    raise AssertionError("no weekday in range")


@dataclass
class Sim:
    index: int
    behaviour: str
    org_id: int = 0
    coordinator: str = ""
    manager: str = ""
    manager_only: bool = False  # no coordinator at launch
    appoint_at: datetime | None = None
    pause_at: datetime | None = None
    turns: list[tuple[datetime, str]] = field(default_factory=list)
    submits: bool = False
    activity: list[datetime] = field(default_factory=list)  # answers recorded
    completed_at: datetime | None = None
    failing_since: datetime | None = None


def level_sections(model: Model) -> list[list[str]]:
    level = {q.id for q in model.questions}
    return [
        [q for q in s.questions if q in level] for s in model.sections if any(q in level for q in s.questions)
    ]


def answer_text(sections: list[list[str]]) -> str:
    return "\n".join(f"{q} a säker" for s in sections for q in s)


def plan_behaviour(model: Model, rng: random.Random) -> list[Sim]:
    kinds = [b for b, share in BEHAVIOURS for _ in range(round(share * len(TYPES)))]
    kinds = (kinds + ["never"] * len(TYPES))[: len(TYPES)]
    rng.shuffle(kinds)
    sections = level_sections(model)
    last_month = local(DEADLINE - timedelta(days=30), 8)
    sims = []
    for i, kind in enumerate(kinds):
        sim = Sim(i, kind)
        chunks: list[tuple[datetime, datetime, int]] = []  # (from, to, number of turns)
        if kind == "quick":
            chunks = [(LAUNCH + timedelta(hours=2), LAUNCH + timedelta(days=13), rng.randint(1, 3))]
            sim.submits = rng.random() < 0.8
        elif kind == "gradual":
            sim.manager_only = rng.random() < 0.12
            start = LAUNCH + timedelta(days=5)
            if sim.manager_only:
                sim.appoint_at = weekday_at(rng, LAUNCH + timedelta(days=3), LAUNCH + timedelta(days=20))
                start = sim.appoint_at + timedelta(days=1)
            chunks = [(start, local(date(2027, 9, 20), 8), rng.randint(3, 6))]
            sim.submits = rng.random() < 0.7
            if rng.random() < 0.05:
                sim.pause_at = weekday_at(rng, start, local(date(2027, 6, 1), 8))
        elif kind == "late":
            finishes = rng.random() < 0.8
            chunks = [(last_month, local(DEADLINE - timedelta(days=1), 8), rng.randint(2, 4))]
            sim.submits = finishes and rng.random() < 0.75
            if not finishes:
                sim.turns = [
                    (weekday_at(rng, last_month, CLOSES - timedelta(days=2)), answer_text(sections[:3]))
                ]
                chunks = []
        elif kind == "never":
            sim.manager_only = rng.random() < 0.08
            if not sim.manager_only and rng.random() < 0.15:
                sim.pause_at = weekday_at(rng, LAUNCH + timedelta(days=10), local(date(2027, 9, 1), 8))
        elif kind == "away":  # one section before the summer; half of them finish after it
            sim.turns = [(weekday_at(rng, LAUNCH + timedelta(days=20), AWAY_FROM - timedelta(days=30)),
                          answer_text(sections[:1]))]  # fmt: skip
            if rng.random() < 0.5:
                at = weekday_at(rng, AWAY_UNTIL + timedelta(days=10), local(date(2027, 10, 20), 8))
                sim.turns.append((at, answer_text(sections[1:]) + "\nklar"))
        if chunks:
            turns_total = sum(n for _, _, n in chunks)
            per = [sections[k::turns_total] for k in range(turns_total)]
            texts = [answer_text(p) for p in per]
            k = 0
            for start, end, n in chunks:
                moments = sorted(weekday_at(rng, start, end) for _ in range(n))
                for at in moments:
                    sim.turns.append((at, texts[k]))
                    k += 1
            at, text = sim.turns[-1]
            sim.turns[-1] = (at, text + "\nklar")
            if sim.submits:
                sim.turns.append((at + timedelta(minutes=30), "skicka in"))
        sims.append(sim)
    return sims


async def register(db: Database, model: Model, sims: list[Sim]) -> None:
    async with db.transaction() as s:
        orgs = [Organisation(name=f"{TYPES[i].capitalize()} nr {i}", type=TYPES[i]) for i in range(len(sims))]
        s.add_all(orgs)
        await s.flush()
        for sim, org in zip(sims, orgs, strict=True):
            assert org.id is not None
            sim.org_id = org.id
            domain = f"org{sim.index}.example.se"
            sim.coordinator, sim.manager = f"samordnare@{domain}", f"ledning@{domain}"
            lang = "en" if sim.index % 23 == 0 else "sv"
            if not sim.manager_only:
                s.add(Contact(organisation_id=org.id, email=sim.coordinator, coordinator=True, respondent=True,
                              language=lang))  # fmt: skip
            s.add(Contact(organisation_id=org.id, email=sim.manager, manager=True, language=lang))
        s.add(Cycle(name="2027", launch=LAUNCH.date(), deadline=DEADLINE, model_id=model.id,
                    model_version=model.version))  # fmt: skip


class LightMail:
    """A stand-in for a rendered reminder: what the outbox reads of a message, nothing more."""

    def __init__(self, to: str, subject: str) -> None:
        self.headers = {"To": to, "Subject": subject, "Message-ID": make_msgid(domain="example.se")}

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def raw_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def as_bytes(self, policy: object = None) -> bytes:
        return "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()).encode() + b"\r\nreminder\r\n"


def light_mail(settings: Settings, model: Model, kind: str, *, contact: Contact, organisation: Organisation,
               **_: object) -> LightMail:  # fmt: skip
    return LightMail(contact.email, f"{kind}: {organisation.name}")


@dataclass
class Sent:
    at: datetime  # the run that queued it
    line: Line


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        secret_key="simulation",
        var_dir=str(tmp_path),
        reply_domain="svar.example.se",
        mail_from="Infosäkkollen <infosakkollen@example.se>",
        base_url="https://infosak.example.se",
    )


def run_times() -> list[tuple[datetime, str]]:
    """Every weekday at 09:00; Wednesday nights; Saturdays."""
    out = []
    day = LAUNCH.date()
    while day <= DEADLINE:
        if day.weekday() < 5:
            out.append((local(day, 9), "day"))
        if day.weekday() == 2:
            out.append((local(day, 22), "night"))
        if day.weekday() == 5:
            out.append((local(day, 11), "weekend"))
        day += timedelta(days=1)
    return out


async def test_a_national_cycle_from_launch_to_deadline(
    db: Database, model: Model, settings: Settings
) -> None:
    rng = random.Random(2027)
    sims = plan_behaviour(model, rng)
    await register(db, model, sims)
    {sim.org_id: sim for sim in sims}
    policy = Policy.from_settings(settings)
    effects = mail_effects(settings, model)

    # --- launch -------------------------------------------------------------------------------------
    report = await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    assert len(report.started) == sum(not s.manager_only for s in sims)
    assert len(report.letters) == sum(s.manager_only for s in sims)
    again = await launch_cycle(db, settings, model, "2027", now=LAUNCH + timedelta(minutes=5))
    assert again.queued == 0 and len(again.already) == len(sims)  # launching again sends nothing
    responses: dict[int, int] = {}
    async with db.transaction(readonly=True) as s:
        for r in (await s.exec(select(Response))).all():
            responses[r.organisation_id] = r.id or 0
        launch_mail = (await s.exec(select(OutboxMessage.kind, OutboxMessage.recipient))).all()
    assert sorted(launch_mail) == sorted(
        [("section", sim.coordinator) for sim in sims if not sim.manager_only]
        + [("launch", sim.manager) for sim in sims if sim.manager_only]
    )

    # --- the timeline: behaviour and scheduler passes, in time order ---------------------------------
    events: list[tuple[datetime, int, str, Sim | None, str]] = []
    for sim in sims:
        for at, text in sim.turns:
            events.append((at, 1, "turn", sim, text))
        if sim.appoint_at:
            events.append((sim.appoint_at, 0, "appoint", sim, ""))
        if sim.pause_at:
            events.append((sim.pause_at, 1, "pause", sim, ""))
        if sim.behaviour == "bounce":
            events.append((LAUNCH + timedelta(days=1), 0, "bounce", sim, ""))
        if sim.behaviour == "away":
            events.append((AWAY_FROM, 0, "away", sim, ""))
    for at, kind in run_times():
        events.append((at, 2, kind, None, ""))
    events.sort(key=lambda e: (e[0], e[1], e[3].index if e[3] else -1))

    sent: list[Sent] = []
    runs_by_kind: dict[str, int] = defaultdict(int)
    appointed_at: dict[int, datetime] = {}
    paused_at: dict[int, datetime] = {}
    for at, _, kind, sim, text in events:
        if kind in ("day", "night", "weekend"):
            assert not await close_due(db, settings, now=at)
            done = await run_reminders(db, settings, model, now=at, render=light_mail)
            queued = [line for line in done.lines if line.status == "sent"]
            runs_by_kind[kind] += len(queued)
            sent += [Sent(at, line) for line in queued]
            continue
        assert sim is not None
        if kind == "appoint":
            async with db.transaction() as s:
                org = await s.get(Organisation, sim.org_id)
                manager = (await s.exec(select(Contact).where(Contact.email == sim.manager))).one()
                assert org is not None
                done_reg = await register_coordinator(
                    s, settings, model, org, sim.coordinator, by=manager, at=at
                )
                assert done_reg.started == ["2027"]
            async with db.transaction(readonly=True) as s:
                r = (await s.exec(select(Response).where(Response.organisation_id == sim.org_id))).one()
                responses[sim.org_id] = r.id or 0
            appointed_at[sim.org_id] = at
        elif kind == "bounce":
            async with db.transaction() as s:
                contact = (await s.exec(select(Contact).where(Contact.email == sim.coordinator))).one()
                contact.failing_since = at
                s.add(contact)
            sim.failing_since = at
        elif kind == "away":
            async with db.transaction() as s:
                contact = (await s.exec(select(Contact).where(Contact.email == sim.coordinator))).one()
                contact.away_until = AWAY_UNTIL
                s.add(contact)
        else:
            actor = Actor(sim.coordinator, coordinator=True, respondent=True)
            if kind == "pause":
                outcome = await handle_turn(db, model, responses[sim.org_id], Turn(actor, "mail", at, "pausa"),
                                            effects=effects)  # fmt: skip
                paused_at[sim.org_id] = at
                continue
            outcome = await handle_turn(db, model, responses[sim.org_id], Turn(actor, "mail", at, text))
            assert outcome.step.accepted, outcome.step.replies
            sim.activity.append(at)
            if outcome.step.state.status in ("completed", "submitted") and sim.completed_at is None:
                sim.completed_at = at

    # --- the deadline -------------------------------------------------------------------------------
    closing = await tick(db, settings, model, now=CLOSES)
    assert closing.reminders.quiet_until is not None  # midnight: quiet
    assert [c.cycle for c in closing.closed] == ["2027"]
    after = await tick(db, settings, model, now=CLOSES + timedelta(days=1, hours=9))
    assert after.reminders.lines == [] and after.closed == []

    # --- what went out ------------------------------------------------------------------------------
    async with db.transaction(readonly=True) as s:
        rows = (await s.exec(select(Reminder))).all()
        outbox = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))).all()
        statuses = dict((await s.exec(select(Response.organisation_id, Response.status))).all())
        contact_ids = {c.email: c.id for c in (await s.exec(select(Contact))).all()}
    sent_rows = [r for r in rows if r.status == "sent" and r.kind != "launch"]
    assert len(sent) == len(sent_rows) == len(outbox)  # exactly one mail per sent reminder
    assert {o.key for o in outbox} == {f"reminder:{r.key}" for r in sent_rows}
    assert not [r for r in rows if r.status == "planned"]
    assert runs_by_kind["night"] == 0 and runs_by_kind["weekend"] == 0  # no reminders at night or at weekends
    assert all(is_allowed(r.due_at, policy) for r in sent_rows if r.due_at)  # type: ignore[arg-type]

    to: dict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        to[item.line.email].append(item)
    org_of = {sim.coordinator: sim for sim in sims} | {sim.manager: sim for sim in sims}

    for item in sent:
        sim = org_of[item.line.email]
        # none to an organisation that has completed (or submitted)
        assert sim.completed_at is None or item.at < sim.completed_at, (sim, item)
        # none to a bouncing address, none to a contact who paused
        if item.line.email == sim.coordinator:
            assert sim.failing_since is None or item.at < sim.failing_since, (sim, item)
            assert sim.org_id not in paused_at or item.at < paused_at[sim.org_id], (sim, item)
        # nothing while away; nothing asking management to appoint once a coordinator is known
        if sim.behaviour == "away" and item.line.email == sim.coordinator:
            assert not (AWAY_FROM <= item.at < AWAY_UNTIL), item
        if item.line.kind == "appoint" and sim.org_id in appointed_at:
            assert item.at < appointed_at[sim.org_id]

    # escalation only after the coordinator stayed silent since a reminder sent to them
    escalations = [item for item in sent if item.line.kind == "escalation"]
    assert escalations
    for item in escalations:
        sim = org_of[item.line.email]
        earlier = [x.at for x in to[sim.coordinator] if x.at < item.at]
        assert earlier, item
        assert not [a for a in sim.activity if max(earlier) <= a <= item.at], (sim, item)
        assert item.line.step in ("d14", "d7", "d2")

    # inactivity nudges: once per silence, three weeks into it
    for email, items in to.items():
        nudges = sorted(x.at for x in items if x.line.kind == "inactivity")
        sim = org_of[email]
        for a, b in itertools.pairwise(nudges):
            assert [t for t in sim.activity if a < t < b], (email, nudges)
        for a in nudges:
            before = [t for t in sim.activity if t < a]
            silence = max(before) if before else (appointed_at.get(sim.org_id) or LAUNCH)
            assert a - silence >= timedelta(weeks=3) - timedelta(hours=1), (email, a, silence)

    # what must have gone out
    steps_of = lambda email: {x.line.step for x in to[email]}  # noqa: E731
    for sim in sims:
        if sim.behaviour == "quick":
            assert not to[sim.coordinator] and not to[sim.manager], sim
        if sim.behaviour == "never" and not sim.manager_only and sim.org_id not in paused_at:
            assert {"first", "mid28", "d28", "d14", "d7", "d2"} <= steps_of(sim.coordinator), sim
            assert len([x for x in to[sim.coordinator] if x.line.kind == "inactivity"]) == 1
            assert steps_of(sim.manager) == {"d14", "d7", "d2"}
        if sim.behaviour == "never" and sim.manager_only:
            assert {x.line.kind for x in to[sim.manager]} == {"appoint"}
            assert {"d28", "d14", "d7", "d2"} <= steps_of(sim.manager)
        if sim.behaviour == "bounce":
            assert not [x for x in to[sim.coordinator] if x.at >= (sim.failing_since or CLOSES)]
            assert {"d28", "d14", "d7", "d2"} <= {
                x.line.step for x in to[sim.manager] if x.line.kind == "appoint"
            }
        if sim.behaviour == "away" and (sim.completed_at is None or sim.completed_at > AWAY_UNTIL):
            # postponed, not skipped: the reminder due during the holiday comes after the return
            first_back = [x for x in to[sim.coordinator] if x.at >= AWAY_UNTIL]
            assert first_back and first_back[0].at < AWAY_UNTIL + timedelta(days=3), sim
        if sim.org_id in paused_at:
            assert not [x for x in to[sim.coordinator] if x.at >= paused_at[sim.org_id]]
    assert all(contact_ids.get(x.line.email) for x in sent)

    # --- after the deadline -------------------------------------------------------------------------
    for sim in sims:
        status = statuses.get(sim.org_id)
        if sim.submits and sim.completed_at:
            assert status == "submitted", sim
        elif status is not None:
            assert status == "closed", sim
    async with db.transaction(readonly=True) as s:
        closed_audit = (await s.exec(select(AuditEntry).where(AuditEntry.action == "response.closed"))).all()
        cycle = (await s.exec(select(Cycle))).one()
    assert cycle.status == "closed" and cycle.closed_at == CLOSES.astimezone(UTC)
    assert len(closed_audit) == sum(1 for st in statuses.values() if st == "closed")

    # a late answer by mail gets the polite "closed" receipt and changes nothing
    late = next(s for s in sims if s.behaviour == "never" and not s.manager_only)
    msg = EmailMessage()
    msg["From"], msg["To"] = late.coordinator, reply_address(settings, responses[late.org_id])
    msg["Subject"], msg["Message-ID"] = "SV: Infosäkkollen 2027", make_msgid(domain="example.se")
    msg.set_content("1.1 a säker\n1.2 b osäker")
    result = await Ingestor(db, settings, model).ingest(bytes(msg), via="pipe")
    assert result.status == "processed" and result.step is not None and not result.step.changes
    async with db.transaction(readonly=True) as s:
        receipt = (
            await s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "receipt", OutboxMessage.recipient == late.coordinator)
                .order_by(col(OutboxMessage.id).desc())
            )
        ).first()
    assert receipt is not None
    body = message_from_bytes(receipt.message, policy=default).get_body(("plain",))
    assert body is not None and "Svarstiden har gått ut" in body.get_content()  # type: ignore[attr-defined]
