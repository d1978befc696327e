"""The scheduler of ``assessbot serve``: deadlines and reminders, every minute, unattended.

One asyncio task per process (an aiohttp ``cleanup_ctx``, like the inbound workers in
``bot/workers.py``) runs :func:`tick` every ``ASSESSBOT_SCHEDULER_INTERVAL`` seconds:
cycles whose deadline has passed are closed (and reopenings that ran out), then every
reminder due is recorded, claimed and queued (``bot.reminders.run``); the outbox sender
delivers it. Nothing is kept in memory between passes: the database is the truth, so a
restart resumes where the last pass stopped, and several processes on one PostgreSQL
database may run the scheduler at once (claims skip rows another process holds; every
reminder and every close is keyed or conditional). A pass that fails is logged once, with
the next success logged too, and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from bot.cycle.deadline import Closed, close_due
from bot.db.database import Database
from bot.db.tables import now as utc_now
from bot.keys import DB, MODEL, SETTINGS
from bot.reminders.run import RunReport, run_reminders
from bot.settings import Settings
from conversations.questionnaire import Model

log = logging.getLogger(__name__)


@dataclass
class Tick:
    closed: list[Closed] = field(default_factory=list)
    reminders: RunReport = field(default_factory=RunReport)


async def tick(db: Database, settings: Settings, model: Model, *, now: datetime) -> Tick:
    """One pass at ``now``: close what is past its deadline, then send the reminders due."""
    closed = await close_due(db, settings, now=now)
    for c in closed:
        log.info(
            "cycle %s closed at its deadline: %d responses closed, %d submitted",
            c.cycle,
            c.closed,
            c.submitted,
        )
    report = await run_reminders(db, settings, model, now=now)
    if report.sent:
        log.info("%d reminders queued", report.sent)
    return Tick(closed, report)


async def run_forever(db: Database, settings: Settings, model: Model, stop: asyncio.Event) -> None:
    """:func:`tick` every ``settings.scheduler_interval`` seconds until ``stop`` is set."""
    failing = False
    while not stop.is_set():
        try:
            await tick(db, settings, model, now=utc_now())
            if failing:
                log.warning("the scheduler works again")
                failing = False
        except Exception:
            if not failing:
                log.exception("a scheduler pass failed; trying again every %s s", settings.scheduler_interval)
                failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.scheduler_interval)


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx.append(scheduler)``: the scheduler for the life of the application."""
    settings = app[SETTINGS]
    if settings.scheduler_interval <= 0:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(app[DB], settings, app[MODEL], stop))
    yield
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=30)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
