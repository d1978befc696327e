"""The outbox sender: delivers queued mail, once, and keeps what cannot go yet.

Mail is never sent from inside a request. A turn stores its mail as :class:`OutboxMessage`
rows (``bot/mail/outbox.py``) in the transaction that caused it; this module delivers
them: :func:`run_forever` is the worker of ``assessbot serve``, :class:`Sender` does one
pass (``assessbot outbox send``). The transport is SMTP (``ASSESSBOT_SMTP_URL``) or,
when no server is configured, the Maildir ``<ASSESSBOT_VAR_DIR>/outbox`` on the laptop.

**Claims.** A pass claims a batch of due rows (``queued``, or ``sending`` whose lease ran
out because a sender stopped half-way) by setting them to ``sending`` with the end of a
lease in ``next_attempt_at``, in one short transaction. On PostgreSQL the rows are read
``FOR UPDATE SKIP LOCKED``, so concurrent senders take disjoint batches without waiting
for each other; on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (see
``bot/db/database.py``), which serialises claims on the writer lock. The lease end is
also a fencing token: every outcome is written ``WHERE status = 'sending' AND
next_attempt_at = <our lease>``, so a sender that lost its lease never overwrites the
row of the sender that took it over. A batch is cut short before its lease could run out.

**Outcomes.** Each message is one SMTP transaction on one connection that the whole pass
reuses (reconnecting after a drop). 2xx marks it ``sent``. A 4xx answer, a dropped
connection or a timeout leaves it ``queued`` with ``attempts + 1`` and ``next_attempt_at``
pushed back exponentially (1, 2, 4 … minutes with jitter, at most an hour); once a
message is older than ``ASSESSBOT_MAIL_MAX_AGE_HOURS`` it is given up. 5xx, for the
recipient or for the message, marks it ``failed`` with the server's answer in
``last_error``, and in the same transaction queues a Swedish notice (key
``failed:<outbox id>``) to the organisation's other coordinators, or to the
administrators when the mail belongs to no response (or the organisation has no one else).
A notice that fails is not noticed again (kind ``notice``), so failures cannot loop.

**Outages.** When the server cannot be reached (no connection, TLS or login refused), no
message is charged an attempt: they were never tried. One warning says so ("SMTP server …
unreachable; N messages wait"), nothing more is logged per message or per retry, and one
line says when it is reachable again. :func:`run_forever` probes with growing pauses
meanwhile. Mail that waits longer than the maximum age is failed even during an outage.

**The at-least-once boundary.** An SMTP transaction cannot share a commit with the
database. A message is marked ``sent`` immediately after the server accepted it (the 250
after the end of DATA), never at the end of a batch: its update is handed to the batch's
writer at once and committed by the next commit to start (group commit, see
:class:`_Marks`), while the next message is already being sent. If the process dies in
that window (after the server took the message, before the commit; at most the message
whose commit is in flight and the one accepted meanwhile), or the connection drops after
the final dot but before the server's answer arrived, the row stays ``sending`` (or
``queued``) and is sent once more when its lease ends: at worst a duplicate, never a
loss. The stored bytes are sent unchanged, so the duplicate carries the same Message-ID
and a receiving system or person can recognise it. Maildir delivery has no such window:
the file name is derived from the row, so writing it again replaces the same file (or is
skipped when a mail program has already moved it to ``cur``).

**SMTP URL.** ``smtp://[user:password@]host[:587]`` uses STARTTLS when the server offers
it; ``?tls=required`` refuses to go on without it and ``?tls=none`` never starts it.
Credentials in the URL imply ``tls=required`` (they are never sent in clear unless
``?tls=none`` says so). ``smtps://…[:465]`` is TLS from the first byte. User and password
are percent-decoded; neither is ever logged: logs show ``smtp://***@host:port``.
``ASSESSBOT_SMTP_CA_FILE`` names the authorities trusted for the server's certificate,
``ASSESSBOT_SMTP_RATE`` caps messages per second, ``ASSESSBOT_SMTP_TIMEOUT`` bounds each
command.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import mailbox
import os
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib
import sqlalchemy as sa
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.database import Database
from bot.db.tables import Administrator, Contact, Organisation, Response, now
from bot.mail.outbox import enqueue
from bot.mail.render import set_text_bodies
from bot.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 100
LEASE = timedelta(minutes=10)
BACKOFF_FIRST = 60.0  # seconds before the first retry
BACKOFF_CAP = 3600.0
JITTER = 0.25  # a retry comes up to this share earlier than the nominal delay
POLL_INTERVAL = 5.0  # seconds between passes of run_forever when nothing wakes it
PROBE_CAP = 60.0  # longest pause between probes of an unreachable server
EX_TEMPFAIL = 75

_OUTBOX: sa.Table = SQLModel.metadata.tables["outbox"]
_C = _OUTBOX.c
_OPEN = ("queued", "sending")
# Built once: marking is on the hot path of every batch.
_MARK_SENT = (
    sa.update(_OUTBOX)
    .where(
        _C.id.in_(sa.bindparam("ids", expanding=True)),
        _C.status == "sending",
        _C.next_attempt_at == sa.bindparam("lease", type_=_C.next_attempt_at.type),
    )
    .values(
        status="sent",
        attempts=_C.attempts + 1,
        sent_at=sa.bindparam("at", type_=_C.sent_at.type),
        next_attempt_at=None,
    )
)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """One outbox row claimed by this sender, with the lease that fences its outcome."""

    id: int
    key: str
    kind: str
    recipient: str
    subject: str
    message_id: str
    message: bytes
    attempts: int
    created_at: datetime
    response_id: int | None
    stale: bool  # was ``sending``: a sender stopped before recording its outcome
    lease: datetime


@dataclass(frozen=True, slots=True)
class Delivered:
    reply: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Try again later: a 4xx answer, a dropped connection, a timeout."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Permanent: a 5xx answer. ``recipient`` when the address itself was refused."""

    reason: str
    recipient: bool = False


Outcome = Delivered | Deferred | Rejected


class Unreachable(Exception):
    """The transport cannot be used at all (no connection, TLS or login refused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Summary:
    """What one pass did; ``waiting`` counts the messages still queued afterwards."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    waiting: int = 0
    unreachable: bool = False
    reason: str = ""


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """Delay before retry number ``attempts``: 1, 2, 4 … minutes, at most an hour, minus jitter."""
    nominal = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** min(max(attempts - 1, 0), 20))
    return timedelta(seconds=nominal * (1 - JITTER * rng()))


# --- transports -----------------------------------------------------------------------------


class Transport(Protocol):
    name: str  # for logs; never holds a secret

    async def open(self) -> None:
        """Be ready to send; raises :class:`Unreachable`."""

    async def send(self, row: Claimed) -> Outcome:
        """Deliver one message; raises :class:`Unreachable` when it cannot even reconnect."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpServer:
    """``ASSESSBOT_SMTP_URL`` parsed; see the module docstring for the syntax."""

    scheme: str
    host: str
    port: int
    tls: str  # implicit | required | opportunistic | none
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Raises ValueError (with a message that holds no secret) for an unusable URL."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"ASSESSBOT_SMTP_URL must start with smtp:// or smtps://, not {scheme!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("ASSESSBOT_SMTP_URL has an invalid port") from None
        if not parts.hostname:
            raise ValueError("ASSESSBOT_SMTP_URL names no host")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        wanted = (parse_qs(parts.query).get("tls") or [""])[-1].lower()
        if scheme == "smtps":
            if wanted in ("none", "off", "starttls"):
                raise ValueError(f"ASSESSBOT_SMTP_URL: smtps:// is always TLS, tls={wanted} contradicts it")
            tls = "implicit"
        elif wanted in ("required", "require", "starttls"):
            tls = "required"
        elif wanted in ("none", "off", "no"):
            tls = "none"
        elif wanted in ("", "auto", "opportunistic"):
            tls = "required" if user is not None else "opportunistic"
        else:
            raise ValueError(f"ASSESSBOT_SMTP_URL: unknown tls={wanted} (required, none or auto)")
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 587),
            tls=tls,
            username=user,
            password=password,
        )

    @property
    def shown(self) -> str:
        """The server as logs show it: no user, no password."""
        cred = "***@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{cred}{host}:{self.port}"

    def scrub(self, text: str) -> str:
        """``text`` with the user and password (plain or percent-encoded) blanked out."""
        for secret in (self.password, self.username):
            if secret and len(secret) >= 3:
                for form in {secret, quote(secret, safe=""), quote(secret)}:
                    text = text.replace(form, "****")
        return text

    def client(self, *, timeout: float, tls_context: ssl.SSLContext | None) -> aiosmtplib.SMTP:
        start_tls = {"required": True, "none": False, "opportunistic": None, "implicit": False}[self.tls]
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.tls == "implicit",
            start_tls=start_tls,
            timeout=timeout,
            tls_context=tls_context,
        )


def _by_code(code: int, message: str, *, recipient: bool) -> Outcome:
    reason = f"{code} {message}".strip()
    if 500 <= code < 600:
        return Rejected(reason, recipient=recipient)
    return Deferred(reason)  # 4xx, and anything a server should not have said


class SmtpTransport:
    """One aiosmtplib connection, reused for every message of a pass; rate-limited."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        envelope_from: str,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
        rate: float = 0.0,
    ) -> None:
        self.server = server
        self.name = f"SMTP server {server.shown}"
        self.envelope_from = envelope_from
        self.timeout = timeout
        self.tls_context = tls_context
        self.rate = rate
        self._limiter: AsyncLimiter | None = None
        if rate > 0:
            self._limiter = AsyncLimiter(rate, 1.0) if rate >= 1 else AsyncLimiter(1, 1.0 / rate)
        self._smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        if self._smtp is not None and self._smtp.is_connected:
            return
        self._smtp = None
        smtp = self.server.client(timeout=self.timeout, tls_context=self.tls_context)
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise Unreachable(self.server.scrub(f"login refused: {exc.code} {exc.message}")) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Unreachable(self.server.scrub(str(exc) or type(exc).__name__)) from None
        self._smtp = smtp

    async def send(self, row: Claimed) -> Outcome:
        if not row.recipient:
            return Rejected("the message has no recipient", recipient=True)
        if self._limiter is not None:
            await self._limiter.acquire()
        await self.open()
        smtp = self._smtp
        assert smtp is not None
        try:
            _refused, reply = await smtp.sendmail(self.envelope_from, [row.recipient], row.message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            if first is None:
                return Deferred("recipient refused")
            return _by_code(first.code, self.server.scrub(first.message), recipient=True)
        except aiosmtplib.SMTPResponseException as exc:
            if not smtp.is_connected:
                self._drop()
            recipient = isinstance(exc, aiosmtplib.SMTPRecipientRefused)
            return _by_code(exc.code, self.server.scrub(exc.message), recipient=recipient)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self._drop()
            return Deferred(self.server.scrub(f"connection lost: {exc or type(exc).__name__}"))
        except (ValueError, aiosmtplib.SMTPNotSupported) as exc:
            # aiosmtplib refuses an address it cannot put into a command (e.g. non-ASCII
            # without SMTPUTF8): no retry will change that.
            return Rejected(f"address not usable over SMTP: {exc}", recipient=True)
        except aiosmtplib.SMTPException as exc:
            self._drop()
            return Deferred(self.server.scrub(str(exc) or type(exc).__name__))
        return Delivered(reply)

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()


def maildir_name(row: Claimed) -> str:
    """The file name of a row in the Maildir: the same on every attempt, unique across databases."""
    digest = hashlib.sha256(f"{row.key}\0{row.message_id}".encode()).hexdigest()[:16]
    return f"{int(row.created_at.timestamp())}.outbox{row.id}_{digest}.assessbot"


class MaildirTransport:
    """Writes each message into a Maildir (``new/``), for a laptop without an SMTP server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"Maildir {path}"

    async def open(self) -> None:
        def create() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            mailbox.Maildir(self.path, create=True)

        try:
            await asyncio.to_thread(create)
        except OSError as exc:
            raise Unreachable(str(exc)) from None

    async def send(self, row: Claimed) -> Outcome:
        try:
            await asyncio.to_thread(self._write, row)
        except OSError as exc:
            return Deferred(f"cannot write to {self.path}: {exc}")
        return Delivered("written to the Maildir")

    def _write(self, row: Claimed) -> None:
        name = maildir_name(row)
        new = self.path / "new" / name
        if row.stale or row.attempts:
            # Written before a crash? Then it is in new/, or in cur/ once a mail program saw it.
            cur = self.path / "cur"
            if new.exists() or (cur / name).exists() or any(cur.glob(f"{name}:*")):
                return
        tmp = self.path / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(row.message)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, new)

    async def close(self) -> None:
        return None


def make_transport(
    settings: Settings, *, tls_context: ssl.SSLContext | None = None, rate: float | None = None
) -> Transport:
    """The transport the settings ask for: SMTP when a URL is set, else the Maildir."""
    if not settings.smtp_url.strip():
        return MaildirTransport(Path(settings.var_dir) / "outbox")
    server = SmtpServer.from_url(settings.smtp_url)
    if tls_context is None and settings.smtp_ca_file:
        tls_context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    return SmtpTransport(
        server,
        envelope_from=parseaddr(settings.mail_from)[1],
        timeout=settings.smtp_timeout,
        tls_context=tls_context,
        rate=settings.smtp_rate if rate is None else rate,
    )


# --- the sender -----------------------------------------------------------------------------


class _Marks:
    """Outcome updates of one batch, committed in order as soon as the connection is free.

    Group commit: :meth:`sent` and :meth:`update` hand an update over at once; a single
    writer task commits everything handed over since its previous commit began, in one
    transaction, then looks again. So an accepted message is never held back to the end
    of a batch, and a slow commit does not hold back the next SMTP transaction. All rows
    of a batch share the lease of their claim, so the sent ones are marked by one fenced
    ``UPDATE … WHERE id IN (…)``.
    """

    def __init__(self, conn: AsyncConnection, lease: datetime) -> None:
        self.conn = conn
        self.lease = lease
        self._sent: list[Claimed] = []
        self._other: list[tuple[Claimed, sa.Update]] = []
        self._task: asyncio.Task[None] | None = None

    def sent(self, row: Claimed) -> None:
        assert row.lease == self.lease
        self._sent.append(row)
        self._kick()

    def update(self, row: Claimed, stmt: sa.Update) -> None:
        self._other.append((row, stmt))
        self._kick()

    def _kick(self) -> None:
        if self._task is not None and self._task.done():
            task, self._task = self._task, None
            task.result()  # a failed commit stops the batch here
        if self._task is None:
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._sent or self._other:
            sent, self._sent = self._sent, []
            other, self._other = self._other, []
            async with self.conn.begin():
                if sent:
                    result: Any = await self.conn.execute(
                        _MARK_SENT, {"ids": [r.id for r in sent], "lease": self.lease, "at": now()}
                    )
                    if result.rowcount != len(sent):
                        log.warning(
                            "outbox %s: another sender took some of them over; not all are marked sent here",
                            ", ".join(str(r.id) for r in sent),
                        )
                for row, stmt in other:
                    Sender._check_fence(row, await self.conn.execute(stmt))

    async def drain(self) -> None:
        """Wait until everything handed over is committed; raises what a commit raised."""
        if self._task is not None:
            task, self._task = self._task, None
            await task


class Sender:
    """Delivers due outbox rows; keeps the outage state between passes (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        transport: Transport | None = None,
        tls_context: ssl.SSLContext | None = None,
        rate: float | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport or make_transport(settings, tls_context=tls_context, rate=rate)
        self.max_age = timedelta(hours=settings.mail_max_age_hours)
        limit_rate = rate if rate is not None else settings.smtp_rate
        if isinstance(self.transport, SmtpTransport) and limit_rate > 0:
            # A batch must fit well inside its lease at the configured rate.
            batch_size = min(batch_size, max(1, int(limit_rate * LEASE.total_seconds() / 2)))
        self.batch_size = batch_size
        self.outage: str | None = None  # the reason, while the transport is unreachable
        self.outage_since: datetime | None = None
        self.failed_probes = 0

    async def close(self) -> None:
        await self.transport.close()

    async def deliver_due(self, stop: asyncio.Event | None = None) -> Summary:
        """One pass: send everything due now, batch after batch, over one connection."""
        sent = deferred = failed = 0
        try:
            while stop is None or not stop.is_set():
                if not await self._count(due=True):
                    break
                try:
                    await self.transport.open()
                except Unreachable as exc:
                    failed += await self._unreachable(exc.reason)
                    return Summary(sent, deferred, failed, await self._count(), True, exc.reason)
                await self._reachable()
                rows = await self._claim(self.batch_size)
                if not rows:
                    break
                counts, unreachable = await self._send_batch(rows, stop)
                sent, deferred, failed = sent + counts[0], deferred + counts[1], failed + counts[2]
                if unreachable is not None:
                    failed += await self._unreachable(unreachable)
                    return Summary(sent, deferred, failed, await self._count(), True, unreachable)
        finally:
            await self.transport.close()
        return Summary(sent, deferred, failed, await self._count())

    async def _send_batch(
        self, rows: Sequence[Claimed], stop: asyncio.Event | None
    ) -> tuple[tuple[int, int, int], str | None]:
        """Send claimed rows in order; each outcome is committed as soon as it is known.

        The update of an accepted message is handed to :class:`_Marks` at once and written
        by the next commit to start, while the next message is already on its way: the
        window between the server's acceptance and the commit is not made longer, the
        batch just does not wait for it.
        """
        counts = {"sent": 0, "queued": 0, "failed": 0}
        margin = timedelta(seconds=4 * getattr(self.transport, "timeout", 30.0) + 5)
        unreachable: str | None = None
        async with self.db.engine.connect() as conn:
            marks = _Marks(conn, rows[0].lease)
            i = 0
            try:
                for i, row in enumerate(rows):
                    if (stop is not None and stop.is_set()) or now() + margin > row.lease:
                        await marks.drain()
                        await self._release(rows[i:])
                        break
                    try:
                        outcome = self._classify(row, await self.transport.send(row))
                    except Unreachable as exc:
                        await marks.drain()
                        await self._release(rows[i:])
                        unreachable = exc.reason
                        break
                    if isinstance(outcome, Rejected):
                        await marks.drain()  # in order, and off the batch connection
                        await self._fail(row, outcome)
                        counts["failed"] += 1
                    else:
                        counts[self._mark(marks, row, outcome)] += 1
                await marks.drain()
            except BaseException:
                # Cancelled (shutdown) or a bug: finish the commit in flight and give the
                # rest back rather than leave them to their lease. The row being sent may
                # have been accepted already: at least once.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(marks.drain())
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release(rows[i:]))
                raise
        return (counts["sent"], counts["queued"], counts["failed"]), unreachable

    # --- database ---------------------------------------------------------------------------

    async def _count(self, *, due: bool = False) -> int:
        q = sa.select(sa.func.count()).select_from(_OUTBOX).where(_C.status.in_(_OPEN))
        if due:
            q = q.where(sa.or_(_C.next_attempt_at <= now(), _C.next_attempt_at.is_(None)))
        async with self.db.transaction(readonly=True) as session:
            conn = await session.connection()
            return int((await conn.execute(q)).scalar_one())

    async def _claim(self, limit: int, *, created_before: datetime | None = None) -> list[Claimed]:
        """Take up to ``limit`` due rows: ``sending`` with a lease (see the module docstring)."""
        at = now()
        lease = at + LEASE
        due = sa.and_(_C.status.in_(_OPEN), sa.or_(_C.next_attempt_at <= at, _C.next_attempt_at.is_(None)))
        if created_before is not None:
            due = sa.and_(due, _C.created_at <= created_before)
        q = (
            sa.select(
                _C.id,
                _C.key,
                _C.kind,
                _C.recipient,
                _C.subject,
                _C.message_id,
                _C.message,
                _C.attempts,
                _C.created_at,
                _C.response_id,
                _C.status,
            )
            .where(due)
            .order_by(_C.next_attempt_at, _C.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction() as session:
            conn = await session.connection()
            found = (await conn.execute(q)).all()
            if not found:
                return []
            ids = [r.id for r in found]
            await conn.execute(
                sa.update(_OUTBOX).where(_C.id.in_(ids), due).values(status="sending", next_attempt_at=lease)
            )
        rows = [
            Claimed(
                id=r.id,
                key=r.key,
                kind=r.kind,
                recipient=r.recipient,
                subject=r.subject,
                message_id=r.message_id,
                message=bytes(r.message),
                attempts=r.attempts,
                created_at=r.created_at,
                response_id=r.response_id,
                stale=r.status == "sending",
                lease=lease,
            )
            for r in found
        ]
        for row in rows:
            if row.stale:
                log.warning(
                    "outbox %d to %s was being sent when a sender stopped; sending it again "
                    "(it may arrive twice, with the same Message-ID)",
                    row.id,
                    row.recipient,
                )
        return rows

    def _fenced(self, row: Claimed) -> sa.Update:
        return sa.update(_OUTBOX).where(
            _C.id == row.id, _C.status == "sending", _C.next_attempt_at == row.lease
        )

    async def _release(self, rows: Sequence[Claimed]) -> None:
        """Give claimed rows back untried: due again at once, no attempt counted."""
        if not rows:
            return
        async with self.db.transaction() as session:
            for row in rows:
                await session.exec(self._fenced(row).values(status="queued", next_attempt_at=now()))

    def _classify(self, row: Claimed, outcome: Outcome) -> Outcome:
        """A temporary failure of a message past the maximum age is final."""
        if isinstance(outcome, Deferred) and now() >= row.created_at + self.max_age:
            hours = self.settings.mail_max_age_hours
            return Rejected(f"gave up after {hours} h; last answer: {outcome.reason}")
        return outcome

    def _mark(self, marks: _Marks, row: Claimed, outcome: Delivered | Deferred) -> str:
        """Hand a sent or deferred outcome to ``marks``; returns the new status."""
        if isinstance(outcome, Delivered):
            marks.sent(row)
            return "sent"
        attempts = row.attempts + 1
        retry = min(now() + backoff(attempts), row.created_at + self.max_age)
        marks.update(
            row,
            self._fenced(row).values(
                status="queued", attempts=attempts, next_attempt_at=retry, last_error=outcome.reason[:2000]
            ),
        )
        log.info(
            "outbox %d to %s deferred (attempt %d, next at %s): %s",
            row.id,
            row.recipient,
            attempts,
            retry.isoformat(timespec="seconds"),
            outcome.reason,
        )
        return "queued"

    async def _record(self, row: Claimed, outcome: Outcome) -> str:
        """Store the outcome of one attempt on its own; returns the new status."""
        outcome = self._classify(row, outcome)
        if isinstance(outcome, Rejected):
            await self._fail(row, outcome)
            return "failed"
        async with self.db.engine.connect() as conn:
            marks = _Marks(conn, row.lease)
            status = self._mark(marks, row, outcome)
            await marks.drain()
        return status

    async def _fail(self, row: Claimed, outcome: Rejected) -> None:
        """Mark the row failed and queue the notice about it, in one transaction."""
        at = now()
        async with self.db.transaction() as session:
            result = await session.exec(
                self._fenced(row).values(
                    status="failed",
                    attempts=row.attempts + 1,
                    next_attempt_at=None,
                    last_error=outcome.reason[:2000],
                )
            )
            if self._check_fence(row, result):
                if outcome.recipient:
                    await _mark_contacts_failing(session, row, at)
                notices = await self._notify(session, row, outcome.reason)
            else:
                notices = 0
        log.warning(
            "outbox %d (%s) to %s failed: %s%s",
            row.id,
            row.kind or "mail",
            row.recipient,
            outcome.reason,
            f"; {notices} notice(s) queued" if notices else "",
        )
        if notices:
            wake()

    @staticmethod
    def _check_fence(row: Claimed, result: Any) -> bool:
        if result.rowcount:
            return True
        log.warning("outbox %d: another sender took it over; its outcome here is not recorded", row.id)
        return False

    async def _notify(self, session: AsyncSession, row: Claimed, reason: str) -> int:
        """Queue the notice about a failed message; returns how many were queued."""
        if row.kind == "notice":
            return 0
        failed = row.recipient.lower()
        organisation: Organisation | None = None
        recipients: list[str] = []
        if row.response_id is not None:
            response = await session.get(Response, row.response_id)
            if response is not None:
                organisation = await session.get(Organisation, response.organisation_id)
                contacts = await session.exec(
                    select(Contact).where(
                        Contact.organisation_id == response.organisation_id,
                        col(Contact.coordinator).is_(True),
                        col(Contact.active).is_(True),
                    )
                )
                recipients = [c.email for c in contacts if c.email.lower() != failed]
        to_coordinators = bool(recipients)
        if not recipients:
            admins = await session.exec(select(Administrator))
            recipients = [a.email for a in admins if a.email.lower() != failed]
        recipients = sorted(set(recipients))
        if not recipients:
            log.error("outbox %d to %s failed and there is no one to tell", row.id, row.recipient)
            return 0
        queued = 0
        for to in recipients:
            msg = notice_message(
                self.settings,
                row,
                reason,
                to=to,
                organisation=organisation.name if organisation is not None else None,
                to_coordinator=to_coordinators,
            )
            key = f"failed:{row.id}" if len(recipients) == 1 else f"failed:{row.id}:{to}"
            queued += await enqueue(session, msg, key=key, kind="notice", response_id=row.response_id)
        return queued

    # --- outages ----------------------------------------------------------------------------

    async def _unreachable(self, reason: str) -> int:
        """Note an outage (logged once) and fail what waited too long; returns how many failed."""
        self.failed_probes += 1
        if self.outage is None:
            self.outage, self.outage_since = reason, now()
            log.warning(
                "%s unreachable (%s); %d messages wait", self.transport.name, reason, await self._count()
            )
        cutoff = now() - self.max_age
        failed = 0
        hours = self.settings.mail_max_age_hours
        while rows := await self._claim(self.batch_size, created_before=cutoff):
            for row in rows:
                gave_up = Rejected(f"gave up after {hours} h: {self.transport.name} unreachable ({reason})")
                failed += await self._record(row, gave_up) == "failed"
        return failed

    async def _reachable(self) -> None:
        if self.outage is None:
            return
        since = self.outage_since or now()
        minutes = max(0, int((now() - since).total_seconds() // 60))
        log.info(
            "%s reachable again after %d min; sending %d messages",
            self.transport.name,
            minutes,
            await self._count(due=True),
        )
        self.outage, self.outage_since, self.failed_probes = None, None, 0

    def next_pause(self, poll_interval: float = POLL_INTERVAL) -> float:
        """Seconds until the next pass: the poll interval, or growing pauses during an outage."""
        if self.outage is None:
            return poll_interval
        exponent = min(max(self.failed_probes - 1, 0), 10)
        return float(min(PROBE_CAP, poll_interval * (1 << exponent)))


async def _mark_contacts_failing(session: AsyncSession, row: Claimed, at: datetime) -> None:
    """The address was refused: no reminders to it until someone corrects it (``failing_since``)."""
    q = sa.update(Contact).where(
        sa.func.lower(col(Contact.email)) == row.recipient.lower(), col(Contact.failing_since).is_(None)
    )
    if row.response_id is not None:
        org = (
            sa.select(col(Response.organisation_id))
            .where(col(Response.id) == row.response_id)
            .scalar_subquery()
        )
        q = q.where(col(Contact.organisation_id) == org)
    await session.exec(q.values(failing_since=at))


# --- the notice -----------------------------------------------------------------------------


def notice_message(
    settings: Settings,
    row: Claimed,
    reason: str,
    *,
    to: str,
    organisation: str | None,
    to_coordinator: bool,
) -> EmailMessage:
    """The Swedish notice that mail to ``row.recipient`` could not be delivered."""
    from bot.mail.compose import new_message  # compose pulls in templates: only when needed

    try:
        zone: Any = ZoneInfo(settings.timezone)
    except Exception:
        zone = None
    queued = row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    authority = settings.authority_name
    sender_address = parseaddr(settings.mail_from)[1]
    facts = [f"Mottagare: {row.recipient}"]
    if organisation:
        facts.append(f"Organisation: {organisation}")
    facts += [
        f"Ämne: {row.subject or '(inget ämne)'}",
        f"Köat: {queued}",
        f"Mejlservern svarade: {reason[:500]}",
    ]
    if to_coordinator:
        advice = [
            f"- Kontrollera att adressen {row.recipient} är rätt stavad och fortfarande används.",
            "- Är adressen fel, eller har personen slutat eller bytt uppdrag? Meddela "
            f"{authority} vilken adress som ska användas i stället, så att kommande utskick når fram.",
            "- Stoppades mejlet av ett filter (till exempel ”spam” eller ”policy” i svaret ovan)? "
            f"Be er IT-avdelning att släppa igenom mejl från {sender_address}.",
        ]
    else:
        advice = [
            f"- Kontrollera adressen {row.recipient} och rätta kontaktuppgiften om den är fel.",
            "- Hör av dig till organisationen och be om en adress som fungerar; meddela "
            f"{authority} om en samordnare har bytts ut.",
            "- Alla mejl som inte kunde levereras visas med `assessbot outbox list --status failed`.",
        ]
    body = "\n".join(
        [
            "Hej!",
            "",
            "Ett mejl från Infosäkkollen kunde inte levereras.",
            "",
            *facts,
            "",
            "Vad du kan göra:",
            *advice,
            "",
            f"Det här meddelandet skickades automatiskt (utkö-id {row.id}).",
        ]
    )
    msg = new_message(settings, to=to, subject=f"Mejl kunde inte levereras till {row.recipient}", lang="sv")
    set_text_bodies(msg, body, lang="sv", title=str(msg["Subject"]))
    return msg


# --- the worker -----------------------------------------------------------------------------

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Tell this process's running sender that mail was queued; harmless when none runs."""
    for event in list(_wakers):
        event.set()


async def run_forever(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    *,
    wakeup: asyncio.Event | None = None,
    poll_interval: float = POLL_INTERVAL,
    sender: Sender | None = None,
) -> None:
    """The outbox worker of ``assessbot serve``: a pass every ``poll_interval`` seconds, or at once
    when :func:`wake` (or ``wakeup``) is signalled, until ``stop`` is set."""
    event = wakeup or asyncio.Event()
    _wakers.add(event)
    sender = sender or Sender(db, settings)
    errors = 0
    try:
        while not stop.is_set():
            event.clear()
            try:
                await sender.deliver_due(stop)
                pause = sender.next_pause(poll_interval)
                errors = 0
            except Exception:
                # The database went away, most likely. Say so once, then keep trying.
                errors += 1
                if errors == 1:
                    log.exception("outbox sender failed; retrying")
                pause = float(min(PROBE_CAP, poll_interval * (1 << min(errors, 10))))
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())]
            try:
                await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
    finally:
        _wakers.discard(event)
        await sender.close()
