"""The scheduler of ``serve``: one pass, the background task in the application, failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

import bot.scheduler as scheduler_module
from bot.app import create_app
from bot.cycle.launch import launch_cycle
from bot.db.database import Database
from bot.db.tables import Cycle
from bot.scheduler import run_forever, scheduler, tick
from conversations.questionnaire import Model
from tests.cycleseed import at, organisations, outbox, settings_for


async def test_one_pass_closes_past_deadlines_and_sends_what_is_due(
    db: Database, model: Model, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, db)
    await organisations(db, model, 2)
    await launch_cycle(db, settings, model, "2027", now=at(2027, 3, 1, 9))
    nudges = await tick(db, settings, model, now=at(2027, 3, 22, 9))
    assert nudges.closed == [] and nudges.reminders.sent == 2
    closing = await tick(db, settings, model, now=at(2027, 10, 30, 0, 0))
    assert [(c.cycle, c.closed) for c in closing.closed] == [("2027", 2)]
    assert closing.reminders.lines == []


async def test_the_scheduler_runs_in_the_application(
    db: Database, model: Model, tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = settings_for(tmp_path, db, scheduler_interval=0.05)
    await organisations(db, model, 1, cycle=False)
    async with db.transaction() as s:
        s.add(Cycle(name="2020", launch=date(2020, 3, 1), deadline=date(2020, 10, 30), model_id=model.id,
                    model_version=model.version, status="launched",
                    launched_at=datetime(2020, 3, 1, 8).astimezone()))  # fmt: skip
    app = create_app(settings, db=db, workers=False)
    app.cleanup_ctx.append(scheduler)
    await aiohttp_client(app)
    for _ in range(100):
        async with db.transaction(readonly=True) as s:
            if (await s.exec(select(Cycle.status))).one() == "closed":
                break
        await asyncio.sleep(0.05)
    async with db.transaction(readonly=True) as s:
        assert (await s.exec(select(Cycle.status))).one() == "closed"
    assert await outbox(db) == []


async def test_a_failing_pass_is_logged_once_and_tried_again(
    db: Database,
    model: Model,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(tmp_path, db, scheduler_interval=0.01)
    passes = 0

    async def broken(*args: object, **kwargs: object) -> None:
        nonlocal passes
        passes += 1
        if passes < 5:
            raise OSError("database unreachable")
        if passes >= 6:
            stop.set()

    monkeypatch.setattr(scheduler_module, "tick", broken)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        await asyncio.wait_for(run_forever(db, settings, model, stop), timeout=10)
    assert passes >= 6
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "scheduler pass failed" in errors[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
