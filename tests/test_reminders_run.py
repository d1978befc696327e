"""Running the reminders: exactly once, checks under the claim, the mail itself, pausing, crashes and races."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

import bot.reminders.run as run_module
from bot.cycle.launch import launch_cycle
from bot.db.database import Database
from bot.db.tables import Contact, OutboxMessage, Reminder, Response
from bot.effects import mail_effects
from bot.mail.compose import reply_address
from bot.reminders.mail import appoint_address
from bot.reminders.run import run_reminders
from bot.turn import handle_turn
from conversations.questionnaire import Model
from conversations.state import Actor, Turn
from tests.conftest_db import empty_tables, run_cli
from tests.cycleseed import (
    at,
    html_of,
    organisations,
    outbox,
    parsed,
    reminders,
    response_of,
    settings_for,
    text_of,
)

LAUNCH = at(2027, 3, 1, 9)
NUDGE = at(2027, 3, 22, 9)  # three weeks after the first section: the inactivity nudge
FIRST = at(2027, 8, 9, 9)  # 84 days before 29 October is Friday 6 August: Monday 08:00, run at 09:00


async def launched(db: Database, model: Model, tmp_path: Path, n: int = 3, **kw: object):  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, db)
    orgs = await organisations(db, model, n, **kw)  # type: ignore[arg-type]
    await launch_cycle(db, settings, model, "2027", now=LAUNCH)
    return settings, orgs


async def test_due_reminders_go_out_once_and_never_at_night(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, orgs = await launched(db, model, tmp_path)
    assert (await run_reminders(db, settings, model, now=NUDGE.replace(hour=8))).lines == []  # due at 09:00
    night = await run_reminders(db, settings, model, now=at(2027, 3, 22, 22))
    assert night.sent == 0 and night.quiet_until == at(2027, 3, 23, 8)
    first = await run_reminders(db, settings, model, now=NUDGE)
    assert first.sent == 3 and {line.kind for line in first.lines} == {"inactivity"}
    again = await run_reminders(db, settings, model, now=NUDGE)
    assert again.lines == []
    rows = await reminders(db)
    sent = [r for r in rows if r.status == "sent"]
    mails = await outbox(db, "reminder")
    assert len(sent) == len(mails) == 3
    assert {m.key for m in mails} == {f"reminder:{r.key}" for r in sent}
    assert {r.recipient for r in sent} == {o.coordinator for o in orgs}


async def test_the_reminder_mail_says_what_remains_and_how_to_pause(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, orgs = await launched(db, model, tmp_path, 2, language="en")
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.id is not None
    actor = Actor(orgs[0].coordinator or "", coordinator=True, respondent=True, language="en")
    await handle_turn(db, model, response.id, Turn(actor, "mail", at(2027, 3, 3), "1.1 a sure\n1.2 a sure"))
    await run_reminders(db, settings, model, now=FIRST)
    mails = {m.recipient: m for m in await outbox(db, "reminder")}
    started = mails[orgs[0].coordinator or ""]
    msg = parsed(started)
    assert msg.get_content_type() == "multipart/alternative" and '<html lang="en"' in html_of(started)
    assert reply_address(settings, response.id) in str(msg["Reply-To"])
    assert msg["Auto-Submitted"] == "auto-generated"
    text = text_of(started)
    assert "October 29, 2027" in text and "in 81 days" in text
    assert (
        "38 questions in 10 sections" in text and "Management direction and control: 3 of 5 questions" in text
    )
    assert "https://infosak.example.se/" in text and "pausa" in text
    assert '<a href="https://infosak.example.se/"' in html_of(started)
    other = text_of(mails[orgs[1].coordinator or ""])
    assert "All 40 questions remain." in other


async def test_swedish_reminder_and_escalation_to_management(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, orgs = await launched(db, model, tmp_path, 1)
    for moment in (NUDGE, FIRST, at(2027, 9, 6, 9), at(2027, 10, 1, 9), at(2027, 10, 15, 9)):
        await run_reminders(db, settings, model, now=moment)
    sent = {(r.recipient, r.step): r for r in await reminders(db) if r.status == "sent"}
    assert set(sent) == {
        ("samordnare@org0.se", s) for s in ("idle:20270301T080000", "first", "mid28", "d28", "d14")
    } | {("chef@org0.se", "d14")}
    mails = {m.key: m for m in await outbox(db, "reminder")}
    d28 = text_of(mails[f"reminder:{sent[('samordnare@org0.se', 'd28')].key}"])
    assert "Sista svarsdag är 29 oktober 2027 (om 28 dagar)." in d28 and "Alla 40 frågor återstår." in d28
    escalation = mails[f"reminder:{sent[('chef@org0.se', 'd14')].key}"]
    assert "som ledning för Organisation 0" in text_of(escalation) and "samordnare@org0.se" in text_of(
        escalation
    )
    assert appoint_address(settings, orgs[0].id) in str(parsed(escalation)["Reply-To"])


async def test_checks_under_the_claim_skip_or_postpone(db: Database, model: Model, tmp_path: Path) -> None:
    """A reminder planned but not yet sent is checked again when claimed."""
    settings, orgs = await launched(db, model, tmp_path, 3)

    async def plan_only(*args: object, **kwargs: object) -> None:
        return None

    original = run_module._claim_and_send
    run_module._claim_and_send = plan_only  # type: ignore[assignment]
    try:
        await run_reminders(db, settings, model, now=NUDGE)
    finally:
        run_module._claim_and_send = original
    assert {r.status for r in await reminders(db)} == {"planned"}
    async with db.transaction() as s:
        c0 = (await s.exec(select(Contact).where(Contact.email == orgs[0].coordinator))).one()
        c0.failing_since = NUDGE
        c1 = (await s.exec(select(Contact).where(Contact.email == orgs[1].coordinator))).one()
        c1.away_until = at(2027, 3, 29, 0)
        r2 = (await s.exec(select(Response).where(Response.organisation_id == orgs[2].id))).one()
        r2.status = "completed"
        s.add_all([c0, c1, r2])
    report = await run_reminders(db, settings, model, now=NUDGE)
    assert sorted((line.email, line.status, line.reason) for line in report.lines) == [
        ("samordnare@org0.se", "skipped", "the address bounces"),
        ("samordnare@org1.se", "postponed", "away until 2027-03-28T22:00:00+00:00"),
        ("samordnare@org2.se", "skipped", "the response is completed"),
    ]
    # back on 29 March, annandag påsk: the reminder goes out the next working day
    assert not (await run_reminders(db, settings, model, now=at(2027, 3, 29, 9))).lines
    back = await run_reminders(db, settings, model, now=at(2027, 3, 30, 9))
    assert [(line.email, line.status) for line in back.lines] == [("samordnare@org1.se", "sent")]
    assert [m.recipient for m in await outbox(db, "reminder")] == ["samordnare@org1.se"]


async def test_pausa_by_mail_stops_the_reminders_for_the_cycle(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, orgs = await launched(db, model, tmp_path, 2)
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.id is not None
    actor = Actor(orgs[0].coordinator or "", coordinator=True, respondent=True)
    outcome = await handle_turn(db, model, response.id, Turn(actor, "mail", at(2027, 3, 10), "pausa"),
                                effects=mail_effects(settings, model))  # fmt: skip
    assert outcome.step.replies
    [receipt] = await outbox(db, "receipt")
    assert "Inga fler påminnelser skickas till samordnare@org0.se." in text_of(receipt)
    report = await run_reminders(db, settings, model, now=NUDGE)
    assert sorted((line.email, line.status) for line in report.lines) == [
        ("samordnare@org0.se", "skipped"),
        ("samordnare@org1.se", "sent"),
    ]


async def test_a_crash_between_claim_and_enqueue_leaves_nothing_half_done(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, _ = await launched(db, model, tmp_path, 5)
    calls = 0
    original = run_module.enqueue

    async def failing(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process dies here")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    run_module.enqueue = failing  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError, match="dies"):
            await run_reminders(db, settings, model, now=NUDGE)
    finally:
        run_module.enqueue = original
    rows = await reminders(db)
    assert len(rows) == 5 and {r.status for r in rows} == {"planned"}  # the batch rolled back as a whole
    assert await outbox(db, "reminder") == []
    report = await run_reminders(db, settings, model, now=NUDGE)
    assert report.sent == 5 and len(await outbox(db, "reminder")) == 5
    assert (await run_reminders(db, settings, model, now=NUDGE)).lines == []


async def test_dry_run_writes_nothing(db: Database, model: Model, tmp_path: Path) -> None:
    settings, _ = await launched(db, model, tmp_path, 2)
    report = await run_reminders(db, settings, model, now=NUDGE, dry_run=True)
    assert [line.status for line in report.lines] == ["would send", "would send"]
    assert await reminders(db) == [] and await outbox(db, "reminder") == []


@pytest.mark.postgresql
async def test_two_schedulers_racing_on_postgresql_send_each_reminder_once(
    postgresql_url: str, model: Model, tmp_path: Path
) -> None:
    one, two = Database(postgresql_url), Database(postgresql_url)
    try:
        await empty_tables(one)
        settings = settings_for(tmp_path, one)
        await organisations(one, model, 120)
        await launch_cycle(one, settings, model, "2027", now=LAUNCH)
        a, b = await asyncio.gather(
            run_reminders(one, settings, model, now=NUDGE, batch=7),
            run_reminders(two, settings, model, now=NUDGE, batch=7),
        )
        assert a.sent + b.sent == 120
        assert a.sent > 0 and b.sent > 0  # both took part: SKIP LOCKED shared the work
        rows = await reminders(one)
        assert len(rows) == 120 and {r.status for r in rows} == {"sent"}
        assert len(await outbox(one, "reminder")) == 120

        # and two `assessbot reminders run` processes at once, at the next step
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "reminders", "run", "--now", "2027-08-09T09:00"],
                cwd=tmp_path, env=_env(postgresql_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(2)
        ]  # fmt: skip
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        queued = [line for out, _ in outputs for line in out.splitlines() if line.startswith("köad:")]
        assert len(queued) == 120
        async with one.transaction(readonly=True) as s:
            firsts = (await s.exec(select(Reminder).where(Reminder.step == "first"))).all()
            keys = (await s.exec(select(OutboxMessage.key).where(OutboxMessage.kind == "reminder"))).all()
        assert len(firsts) == 120 and len(keys) == len(set(keys)) == 240
    finally:
        await empty_tables(one)
        await one.dispose()
        await two.dispose()


def _env(url: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSESSBOT_")}
    env.update(ASSESSBOT_DATABASE_URL=url, ASSESSBOT_SECRET_KEY="cycle-tests", PYTHONIOENCODING="utf-8")
    return env


async def test_reminders_run_command(db: Database, model: Model, tmp_path: Path) -> None:
    settings, _ = await launched(db, model, tmp_path, 2)
    del settings
    night = run_cli(db.url, tmp_path, "reminders", "run", "--now", "2027-03-22T22:00")
    assert night.returncode == 0 and "0 påminnelser köade" in night.stdout
    dry = run_cli(db.url, tmp_path, "reminders", "run", "--now", "2027-03-22T09:00", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("skulle köas: 2027 idle:20270301T080000 inactivity") == 2
    assert "2 påminnelser skulle köas" in dry.stdout and await reminders(db) == []
    real = run_cli(db.url, tmp_path, "reminders", "run", "--now", "2027-03-22T09:00")
    assert real.returncode == 0 and "2 påminnelser köade" in real.stdout
    twice = run_cli(db.url, tmp_path, "reminders", "run", "--now", "2027-03-22T09:00")
    assert "0 påminnelser köade" in twice.stdout
    bad = run_cli(db.url, tmp_path, "reminders", "run", "--now", "i morgon")
    assert bad.returncode == 1 and "ogiltig tidpunkt" in bad.stderr


async def test_a_mail_that_cannot_be_made_is_skipped_and_holds_nothing_up(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings, orgs = await launched(db, model, tmp_path, 3)

    def render(*args: object, **kwargs: Any) -> Any:
        if kwargs["contact"].email == orgs[0].coordinator:
            raise KeyError("a template bug")
        return run_module.cycle_message(*args, **kwargs)  # type: ignore[arg-type]

    report = await run_reminders(db, settings, model, now=NUDGE, batch=1, render=render)
    assert sorted((line.email, line.status, line.reason) for line in report.lines) == [
        ("samordnare@org0.se", "skipped", "the mail could not be made (KeyError)"),
        ("samordnare@org1.se", "sent", ""),
        ("samordnare@org2.se", "sent", ""),
    ]
