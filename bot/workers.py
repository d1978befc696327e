"""Inbound mail workers for ``assessbot serve``: the listener, the IMAP poller, recovery.

Run as an aiohttp ``cleanup_ctx``: at start-up every stored message still waiting to be
processed (a crash between receiving and recording) is processed once; the LMTP/SMTP
listener (``ASSESSBOT_MAIL_LISTEN``) and the IMAP poller (``ASSESSBOT_IMAP_URL``) run
until shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.keys import DB, MODEL, SETTINGS
from bot.mail.imap import ImapConfig, ImapPoller
from bot.mail.ingest import Ingestor
from bot.mail.listener import start_listener

log = logging.getLogger(__name__)


async def inbound_mail(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ingestor = Ingestor(app[DB], settings, app[MODEL])
    try:
        pending = await ingestor.process_pending()
        if pending:
            log.warning("processed %d inbound messages left from before a restart", pending)
    except Exception:  # the service still starts; the messages stay stored
        log.exception("could not process the stored inbound messages")
    server = None
    if settings.mail_listen:
        host, _, port = settings.mail_listen.rpartition(":")
        try:
            server = await start_listener(
                ingestor,
                host or "127.0.0.1",
                int(port),
                protocol=settings.mail_listen_protocol,
                reply_domain=settings.reply_domain,
            )
        except OSError as exc:
            log.error("cannot listen for mail on %s: %s", settings.mail_listen, exc)
    stop = asyncio.Event()
    poller = None
    if settings.imap_url:
        poller = asyncio.create_task(
            ImapPoller(ingestor, ImapConfig.from_url(settings.imap_url)).run_forever(stop)
        )
    yield
    stop.set()
    if poller is not None:
        try:
            await asyncio.wait_for(poller, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    if server is not None:
        server.close()
        await server.wait_closed()
