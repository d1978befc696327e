"""The IMAP poller: reads replies from an existing mailbox (``ASSESSBOT_IMAP_URL``).

Connects with aioimaplib (``imap://`` with STARTTLS when offered, ``imaps://`` with TLS),
selects the mailbox, and processes every unseen message through the same ingest path as
the listener and the pipe. A message is flagged ``\\Seen`` only after it is stored, so a
crash or an outage in between means it is read again next time (and the stored
Message-ID makes that harmless). Waits with IDLE where the server offers it, otherwise
polls. An unreachable server is logged once until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aioimaplib

from bot.mail.ingest import EX_TEMPFAIL, Ingestor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> ImapConfig:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mailbox=mailbox,
            tls=tls,
        )

    def shown(self) -> str:
        return f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


class ImapPoller:
    """Processes unseen messages of one mailbox, forever or once."""

    def __init__(
        self,
        ingestor: Ingestor,
        config: ImapConfig,
        *,
        poll_seconds: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.config = config
        self.poll_seconds = poll_seconds
        self.ssl_context = ssl_context
        self._down_logged = False

    async def _connect(self) -> aioimaplib.IMAP4:
        c = self.config
        client: aioimaplib.IMAP4
        if c.tls:
            client = aioimaplib.IMAP4_SSL(host=c.host, port=c.port, ssl_context=self.ssl_context, timeout=30)
        else:
            client = aioimaplib.IMAP4(host=c.host, port=c.port, timeout=30)
        await client.wait_hello_from_server()
        response = await client.login(c.user, c.password)
        if response.result != "OK":
            raise ConnectionError(f"IMAP login refused for {c.user}")
        response = await client.select(c.mailbox)
        if response.result != "OK":
            raise ConnectionError(f"IMAP mailbox {c.mailbox} cannot be selected")
        return client

    async def poll_once(self, client: aioimaplib.IMAP4 | None = None) -> int:
        """Process every unseen message once; returns how many were stored."""
        own = client is None
        if client is None:
            client = await self._connect()
        try:
            response = await client.uid_search("UNSEEN")
            uids = response.lines[0].decode().split() if response.result == "OK" and response.lines else []
            stored = 0
            for uid in uids:
                fetched = await client.uid("fetch", uid, "BODY.PEEK[]")
                raw = _message_bytes(fetched.lines)
                if raw is None:
                    continue
                result = await self.ingestor.ingest(raw, via="imap")
                if result.code == EX_TEMPFAIL:
                    break  # leave it unseen: read again when the database is back
                await client.uid("store", uid, "+FLAGS", "(\\Seen)")
                stored += 1
            return stored
        finally:
            if own:
                await _logout(client)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Process mail until ``stop`` is set, waiting with IDLE where offered."""
        delay = 1.0
        while not stop.is_set():
            try:
                client = await self._connect()
            except (TimeoutError, OSError, ConnectionError, aioimaplib.Abort) as exc:
                if not self._down_logged:
                    log.warning("IMAP server %s unreachable (%s); retrying quietly", self.config.shown(), exc)
                    self._down_logged = True
                await _wait(stop, delay)
                delay = min(delay * 2, 300.0)
                continue
            if self._down_logged:
                log.warning("IMAP server %s reachable again", self.config.shown())
                self._down_logged = False
            delay = 1.0
            try:
                while not stop.is_set():
                    await self.poll_once(client)
                    if client.has_capability("IDLE"):
                        idle = await client.idle_start(timeout=min(self.poll_seconds, 29 * 60))
                        waiter = asyncio.ensure_future(client.wait_server_push())
                        stopper = asyncio.ensure_future(stop.wait())
                        await asyncio.wait(
                            {waiter, stopper}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                        )
                        stopper.cancel()
                        client.idle_done()
                        await asyncio.wait_for(idle, timeout=10)
                        if not waiter.done():
                            waiter.cancel()
                    else:
                        await _wait(stop, self.poll_seconds)
            except (TimeoutError, OSError, ConnectionError, aioimaplib.Abort) as exc:
                log.warning("IMAP connection to %s lost (%s); reconnecting", self.config.shown(), exc)
            finally:
                await _logout(client)


def _message_bytes(lines: list[bytes | bytearray]) -> bytes | None:
    """The literal of a FETCH BODY[] answer."""
    for i, line in enumerate(lines):
        if isinstance(line, bytearray):
            return bytes(line)
        if re.search(rb"BODY\[\] \{\d+\}$", bytes(line)) and i + 1 < len(lines):
            return bytes(lines[i + 1])
    return None


async def _logout(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(TimeoutError, OSError, aioimaplib.Abort, aioimaplib.CommandTimeout):
        await asyncio.wait_for(client.logout(), timeout=5)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
