"""The aiohttp application factory: settings, templates, routes and background workers.

``create_app(settings)`` opens the configured database and runs the outbox sender for
``assessbot serve``; tests pass their own ``db`` and leave the workers off. Middlewares,
outermost first: security headers on every response, error pages in the user's
language, the session (who is signed in).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from bot.db.database import Database
from bot.effects import mail_effects
from bot.i18n import environment, format_datetime
from bot.keys import DB, DEMO, EFFECTS, LIMITS, MODEL, SECRET, SETTINGS, SOCKETS, TRANSCRIPTS
from bot.settings import Settings
from bot.web import admin, admin_cycles, analysis, auth, chat, pages, report, security, sessions
from bot.web.parts import PARTS, Parts
from bot.web.ratelimit import SigninLimits
from bot.web.transcript import Transcripts
from conversations.questionnaire import load_model

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "web" / "static"


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    demo: bool = False,
    workers: bool = True,
    sender_poll: float = 5.0,
) -> web.Application:
    app = web.Application(middlewares=[security.headers, security.errors, sessions.sessions])
    app[SETTINGS] = settings
    model = load_model(settings.model_path or None)
    app[MODEL] = model
    app[DEMO] = demo
    app[SECRET] = settings.secret()
    app[EFFECTS] = mail_effects(settings, model)
    app[LIMITS] = SigninLimits(settings.signin_limit, settings.signin_window_minutes)
    app[TRANSCRIPTS] = Transcripts()
    app[SOCKETS] = weakref.WeakSet()
    env = environment(jinja2.PackageLoader("bot", "web/templates"), html=True)
    env.auto_reload = False  # the templates ship with the package; no stat() per render
    env.globals["service"] = "Infosäkkollen"
    env.tests["reply"] = lambda obj, *names: type(obj).__name__ in names
    env.filters["kind"] = lambda obj: type(obj).__name__
    env.filters["datetime"] = lambda v, lang="sv": format_datetime(v, lang, tz=settings.timezone, fmt="short")
    app[aiohttp_jinja2.APP_KEY] = env
    app[PARTS] = Parts(env, model)  # the chat's rendered parts, shared by all pages

    if db is not None:
        app[DB] = db
    else:
        app.cleanup_ctx.append(_database)
    if workers:
        from bot.scheduler import scheduler
        from bot.workers import inbound_mail

        app.cleanup_ctx.append(_outbox_sender(sender_poll))
        app.cleanup_ctx.append(inbound_mail)
        app.cleanup_ctx.append(scheduler)
    app.on_shutdown.append(_close_sockets)

    pages.setup_routes(app)
    auth.setup_routes(app)
    report.setup_routes(app)  # before the chat's /svar/{rid}/{action}
    chat.setup_routes(app)
    admin.setup_routes(app)
    analysis.setup_routes(app)
    admin_cycles.setup_routes(app)
    if demo:
        from bot.web import demo as demo_pages

        demo_pages.setup_routes(app)
    app.router.add_get("/sprak/{lang}", security.choose_language)
    app.router.add_static("/static", STATIC, append_version=False)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_url)
    app[DB] = db
    yield
    await db.dispose()


def _outbox_sender(poll: float):  # type: ignore[no-untyped-def]
    async def worker(app: web.Application) -> AsyncIterator[None]:
        from bot.mail.sender import run_forever

        stop = asyncio.Event()
        task = asyncio.create_task(run_forever(app[DB], app[SETTINGS], stop, poll_interval=poll))
        yield
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            log.exception("outbox sender stopped with an error")

    return worker


GC_THRESHOLDS = (50_000, 20, 10)


async def settle_memory(app: web.Application) -> None:
    """For a long-running service (``on_startup``): move what start-up allocated (model,
    templates, SQLAlchemy) out of the collector's way, so full collections stay short, and
    collect the youngest objects every :data:`GC_THRESHOLDS` allocations instead of 700.

    A full collection stops every chat session for as long as it takes (tens of
    milliseconds). With Python's default the youngest generation is collected several times
    within one chat turn, so the objects of turns in flight survive into the oldest
    generation and set off full collections every few seconds under load; collected less
    often, they are gone by then (freed by reference counting), and full collections
    become rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _close_sockets(app: web.Application) -> None:
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
