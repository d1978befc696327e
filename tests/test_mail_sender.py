"""The outbox sender against a real aiosmtpd server on loopback, started in the test's loop.

No transport is mocked: the sender speaks SMTP (plain, STARTTLS, implicit TLS, AUTH) to
aiosmtpd, or writes a real Maildir. Time is driven by moving ``next_attempt_at`` into the
past, never by sleeping. Database tests run on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import ipaddress
import logging
import mailbox
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr
from sqlmodel import SQLModel, col, select

from bot.db.database import Database
from bot.db.tables import Administrator, Contact, Cycle, Organisation, OutboxMessage, Response, now
from bot.mail.outbox import enqueue
from bot.mail.sender import (
    BACKOFF_CAP,
    Sender,
    SmtpServer,
    backoff,
    maildir_name,
    run_forever,
    wake,
)
from bot.settings import Settings
from tests.conftest_db import run_cli

OUTBOX = SQLModel.metadata.tables["outbox"]
PASSWORD = "p@ss:w/rd%1 x"
USER = "bot@example.se"


# --- an SMTP server in the test's loop ------------------------------------------------------


@dataclass
class Sink:
    """An aiosmtpd handler that records what it accepts and answers as scripted."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    connections: int = 0
    temporary: dict[str, list[str]] = field(default_factory=dict)  # address -> answers before 250
    refuse: dict[str, str] = field(default_factory=dict)  # address -> permanent answer
    drop: int = 0  # drop the connection at the end of DATA this many times
    authenticated: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if self.temporary.get(address):
            return self.temporary[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop > 0:
            self.drop -= 1
            assert server.transport is not None
            server.transport.close()
            return "250 OK"  # never reaches the client
        content = envelope.original_content or b""
        self.received.append((list(envelope.rcpt_tos), content))
        self.authenticated.append(bool(session.authenticated))
        return "250 2.0.0 Ok: queued"

    def message_ids(self) -> list[str]:
        return [str(email.message_from_bytes(raw)["Message-ID"]) for _, raw in self.received]


@contextlib.asynccontextmanager
async def smtp_server(
    sink: Sink, *, port: int = 0, ssl_context: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[int]:
    """aiosmtpd served straight from the running loop (``loop.create_server``); yields the port."""
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        sink.connections += 1
        return SMTP(sink, hostname="localhost", **options)

    server = await loop.create_server(factory, "127.0.0.1", port, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throw-away CA and a server certificate for localhost and 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    start = datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assessbot test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certs(d / "ca.pem", d / "server.pem", d / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


# --- data -------------------------------------------------------------------------------------


def settings(db: Database, tmp_path: Path, smtp_url: str = "", **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "smtp_url": smtp_url,
        "var_dir": str(tmp_path / "var"),
        "smtp_rate": 0,
        "smtp_timeout": 5,
        "mail_from": "Infosäkkollen <enkat@example.se>",
        "secret_key": SecretStr("test-secret-key"),
        "smtp_ca_file": "",
        "mail_max_age_hours": 72,
    }
    values.update(kw)
    return Settings(**values)


def mail(n: int, to: str = "anna@exempelby.se") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Infosäkkollen <enkat@example.se>"
    msg["To"] = to
    msg["Subject"] = f"Avsnitt {n}: Ledningens styrning"
    msg["Date"] = format_datetime(now())
    msg["Message-ID"] = make_msgid(domain="example.se")
    msg.set_content(f"Hej!\n\nHär kommer frågorna i avsnitt {n}.\n.\nEn rad med bara en punkt ovan.\n")
    return msg


async def queue(
    db: Database, messages: list[EmailMessage], *, kind: str = "section", response_id: int | None = None
) -> list[str]:
    async with db.transaction() as session:
        for m in messages:
            await enqueue(session, m, key=f"test:{m['Message-ID']}", kind=kind, response_id=response_id)
    return [str(m["Message-ID"]) for m in messages]


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction(readonly=True) as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def make_due(db: Database) -> None:
    """Move every retry into the past: what a clock would do after the backoff."""
    async with db.transaction() as session:
        await session.exec(
            sa.update(OUTBOX)
            .where(OUTBOX.c.status == "queued")
            .values(next_attempt_at=now() - timedelta(seconds=1))
        )


async def organisation_with_response(db: Database, coordinators: list[str]) -> int:
    async with db.transaction() as session:
        org = Organisation(name="Exempelby kommun", type="kommun")
        session.add(org)
        await session.flush()
        assert org.id is not None
        for address in coordinators:
            session.add(Contact(organisation_id=org.id, email=address, coordinator=True))
        cycle = Cycle(
            name="2027",
            launch=date(2027, 3, 1),
            deadline=date(2027, 10, 31),
            model_id="msb-2021",
            model_version="1",
        )
        session.add(cycle)
        await session.flush()
        assert cycle.id is not None
        response = Response(organisation_id=org.id, cycle_id=cycle.id, model_id="msb-2021", model_version="1")
        session.add(response)
        await session.flush()
        assert response.id is not None
        return response.id


def sender_records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.mail.sender" and text in r.getMessage()]


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.se", ("smtp", "mail.example.se", 587, "opportunistic", None, None)),
        ("smtp://mail.example.se:25?tls=none", ("smtp", "mail.example.se", 25, "none", None, None)),
        ("smtp://mail.example.se?tls=required", ("smtp", "mail.example.se", 587, "required", None, None)),
        ("smtps://mail.example.se", ("smtps", "mail.example.se", 465, "implicit", None, None)),
        (
            f"smtp://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@mail.example.se:2525",
            ("smtp", "mail.example.se", 2525, "required", USER, PASSWORD),
        ),
        ("smtp://u:p@relay.local?tls=none", ("smtp", "relay.local", 587, "none", "u", "p")),
    ],
)
def test_smtp_url(url: str, expected: tuple[Any, ...]) -> None:
    s = SmtpServer.from_url(url)
    assert (s.scheme, s.host, s.port, s.tls, s.username, s.password) == expected
    assert PASSWORD not in repr(s) and PASSWORD not in s.shown


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.se", "smtp://", "smtp://host:port", "smtps://h?tls=none", "smtp://h?tls=maybe"],
)
def test_smtp_url_refused(url: str) -> None:
    with pytest.raises(ValueError, match="ASSESSBOT_SMTP_URL"):
        SmtpServer.from_url(url)


def test_shown_url_and_scrub_hide_credentials() -> None:
    s = SmtpServer.from_url(f"smtp://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@mail.example.se")
    assert s.shown == "smtp://***@mail.example.se:587"
    assert s.scrub(f"535 no such user {USER} with {PASSWORD} or {quote(PASSWORD, safe='')}") == (
        "535 no such user **** with **** or ****"
    )


def test_backoff_doubles_from_a_minute_to_an_hour_with_jitter() -> None:
    nominal = [backoff(n, rng=lambda: 0.0).total_seconds() for n in range(1, 10)]
    assert nominal == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    earliest = [backoff(n, rng=lambda: 1.0).total_seconds() for n in (1, 7, 50, 10_000)]
    assert earliest == [45, 2700, 2700, 2700]
    assert all(0 < backoff(n).total_seconds() <= BACKOFF_CAP for n in range(0, 100))


# --- delivery over SMTP -----------------------------------------------------------------------


async def test_fifty_messages_over_one_connection(db: Database, tmp_path: Path) -> None:
    sink = Sink()
    async with smtp_server(sink) as port:
        ids = await queue(db, [mail(n) for n in range(50)])
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        summary = await sender.deliver_due()
    assert (summary.sent, summary.deferred, summary.failed, summary.waiting) == (50, 0, 0, 0)
    assert sink.connections == 1
    assert sorted(sink.message_ids()) == sorted(ids)
    stored = await rows(db)
    assert {r.status for r in stored} == {"sent"}
    assert all(r.sent_at is not None and r.attempts == 1 and r.next_attempt_at is None for r in stored)
    # The bytes arrive as stored (dot-stuffing undone by the server), Message-ID unchanged.
    assert sink.received[0][1].replace(b"\r\n", b"\n") == stored[0].message.replace(b"\r\n", b"\n")
    assert sink.received[0][0] == ["anna@exempelby.se"]


async def test_temporary_failure_then_delivered_exactly_once(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.mail.sender")
    sink = Sink(temporary={"anna@exempelby.se": ["451 4.7.1 Greylisted, try again later"]})
    async with smtp_server(sink) as port:
        [mid] = await queue(db, [mail(1)])
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        first = await sender.deliver_due()
        assert (first.sent, first.deferred, first.waiting) == (0, 1, 1)
        [row] = await rows(db)
        assert row.status == "queued" and row.attempts == 1 and "451 4.7.1" in row.last_error
        assert row.next_attempt_at is not None
        assert timedelta(seconds=44) < row.next_attempt_at - now() <= timedelta(seconds=60)

        early = await sender.deliver_due()  # not due yet: nothing happens
        assert (early.sent, early.deferred) == (0, 0) and sink.received == []

        await make_due(db)
        second = await sender.deliver_due()
    assert (second.sent, second.waiting) == (1, 0)
    assert sink.message_ids() == [mid]
    [row] = await rows(db)
    assert row.status == "sent" and row.attempts == 2
    assert len(sender_records(caplog, "deferred")) == 1


async def test_permanent_failure_notifies_the_other_coordinator_once(db: Database, tmp_path: Path) -> None:
    response_id = await organisation_with_response(db, ["anna@exempelby.se", "bo@exempelby.se"])
    sink = Sink(refuse={"anna@exempelby.se": "550 5.1.1 <anna@exempelby.se>: Recipient address rejected"})
    async with smtp_server(sink) as port:
        await queue(db, [mail(1)], response_id=response_id)
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        summary = await sender.deliver_due()
        assert summary.failed == 1
        failed, *notices = await rows(db)
        assert failed.status == "failed" and failed.attempts == 1
        assert failed.last_error.startswith("550 5.1.1")
        assert [(n.kind, n.recipient, n.key, n.response_id) for n in notices] == [
            ("notice", "bo@exempelby.se", f"failed:{failed.id}", response_id)
        ]
        # The notice goes out (the pass that failed the mail may already have sent it).
        await sender.deliver_due()
        again = await sender.deliver_due()
    assert again.failed == 0
    assert [r.status for r in await rows(db)] == ["failed", "sent"]
    [(rcpts, raw)] = sink.received
    assert rcpts == ["bo@exempelby.se"]
    notice = email.message_from_bytes(raw, policy=email.policy.default)
    body = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "anna@exempelby.se" in str(notice["Subject"])
    assert "kunde inte levereras" in body and "550 5.1.1" in body and "Exempelby kommun" in body
    assert "Meddela Myndigheten för civilt försvar (MCF)" in body
    async with db.transaction(readonly=True) as session:
        contacts = {c.email: c for c in (await session.exec(select(Contact))).all()}
    assert contacts["anna@exempelby.se"].failing_since is not None
    assert contacts["bo@exempelby.se"].failing_since is None


async def test_failed_notice_is_not_noticed_again(db: Database, tmp_path: Path) -> None:
    async with db.transaction() as session:
        session.add(Administrator(email="admin@mcf.se"))
    sink = Sink(refuse={"x@nowhere.se": "550 5.1.1 No such user", "admin@mcf.se": "554 5.7.1 Rejected"})
    async with smtp_server(sink) as port:
        await queue(db, [mail(1, to="x@nowhere.se")], kind="signin")
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        await sender.deliver_due()
        await sender.deliver_due()
    stored = await rows(db)
    assert [(r.kind, r.recipient, r.status) for r in stored] == [
        ("signin", "x@nowhere.se", "failed"),
        ("notice", "admin@mcf.se", "failed"),
    ]
    assert sink.received == []


async def test_gives_up_after_the_maximum_age(db: Database, tmp_path: Path) -> None:
    async with db.transaction() as session:
        session.add(Administrator(email="admin@mcf.se"))
    sink = Sink(temporary={"anna@exempelby.se": ["452 4.2.2 Mailbox full"] * 5})
    async with smtp_server(sink) as port:
        await queue(db, [mail(1)])
        async with db.transaction() as session:
            await session.exec(sa.update(OUTBOX).values(created_at=now() - timedelta(days=4)))
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        await sender.deliver_due()
    old, notice = await rows(db)
    assert old.status == "failed" and old.last_error.startswith("gave up after 72 h; last answer: 452 4.2.2")
    assert notice.kind == "notice" and notice.recipient == "admin@mcf.se" and notice.status == "sent"


async def test_dropped_connection_reconnects_and_retries_later(db: Database, tmp_path: Path) -> None:
    sink = Sink(drop=1)
    async with smtp_server(sink) as port:
        ids = await queue(db, [mail(n) for n in range(5)])
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        first = await sender.deliver_due()
        assert (first.sent, first.deferred) == (4, 1)
        [deferred] = [r for r in await rows(db) if r.status == "queued"]
        assert deferred.attempts == 1 and "connection lost" in deferred.last_error
        await make_due(db)
        second = await sender.deliver_due()
    assert second.sent == 1
    assert sorted(sink.message_ids()) == sorted(ids)  # each exactly once
    assert sink.connections == 3  # the first, the reconnect after the drop, the retry pass


async def test_outage_logged_once_then_everything_delivered_once(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.mail.sender")
    port = free_port()
    ids = await queue(db, [mail(n) for n in range(20)])
    sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"), batch_size=7)
    for _ in range(3):
        summary = await sender.deliver_due()
        assert summary.unreachable and summary.waiting == 20 and summary.sent == 0
    assert sender.next_pause(5) == 20  # probes back off: 5, 10, 20 … seconds
    stored = await rows(db)
    assert {(r.status, r.attempts) for r in stored} == {("queued", 0)}  # nobody charged an attempt
    [warning] = sender_records(caplog, "unreachable")
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(f"SMTP server smtp://127.0.0.1:{port} unreachable")
    assert warning.getMessage().endswith("; 20 messages wait")
    assert len([r for r in caplog.records if r.name == "bot.mail.sender"]) == 1  # nothing per message

    sink = Sink()
    async with smtp_server(sink, port=port):
        back = await sender.deliver_due()
        await sender.deliver_due()
    assert (back.sent, back.waiting, back.unreachable) == (20, 0, False)
    assert sorted(sink.message_ids()) == sorted(ids)
    assert sink.connections == 1
    assert len(sender_records(caplog, "reachable again")) == 1
    assert len(sender_records(caplog, "unreachable")) == 1


async def test_two_senders_racing_send_each_message_once(db: Database, tmp_path: Path) -> None:
    sink = Sink()
    other = Database(db.url)
    try:
        async with smtp_server(sink) as port:
            ids = await queue(db, [mail(n) for n in range(120)])
            s = settings(db, tmp_path, f"smtp://127.0.0.1:{port}")
            a, b = Sender(db, s, batch_size=10), Sender(other, s, batch_size=10)
            first, second = await asyncio.gather(a.deliver_due(), b.deliver_due())
    finally:
        await other.dispose()
    assert first.sent + second.sent == 120
    assert first.sent > 0 and second.sent > 0  # both took part
    assert sorted(sink.message_ids()) == sorted(ids)
    assert {r.status for r in await rows(db)} == {"sent"}


async def test_stale_sending_row_is_retried_and_a_live_lease_is_not(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Sink()
    async with smtp_server(sink) as port:
        stale, live = await queue(db, [mail(1), mail(2)])
        async with db.transaction() as session:
            for mid, lease in ((stale, now() - timedelta(minutes=1)), (live, now() + timedelta(minutes=5))):
                await session.exec(
                    sa.update(OUTBOX)
                    .where(OUTBOX.c.message_id == mid)
                    .values(status="sending", next_attempt_at=lease)
                )
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"))
        summary = await sender.deliver_due()
    assert summary.sent == 1 and summary.waiting == 1
    assert sink.message_ids() == [stale]
    assert {r.message_id: r.status for r in await rows(db)} == {stale: "sent", live: "sending"}
    assert len(sender_records(caplog, "being sent when a sender stopped")) == 1


async def test_starttls_with_auth(
    db: Database, tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = Sink()
    options = {
        "tls_context": certs.server_context(),
        "require_starttls": True,
        "authenticator": authenticator,
        "auth_required": True,
        "auth_require_tls": True,
    }
    async with smtp_server(sink, **options) as port:
        ids = await queue(db, [mail(n) for n in range(3)])
        url = f"smtp://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"
        sender = Sender(db, settings(db, tmp_path, url, smtp_ca_file=str(certs.ca)))
        summary = await sender.deliver_due()
    assert summary.sent == 3
    assert sorted(sink.message_ids()) == sorted(ids) and all(sink.authenticated)
    assert PASSWORD not in caplog.text and quote(PASSWORD, safe="") not in caplog.text


async def test_wrong_password_is_an_outage_and_never_logged(
    db: Database, tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {"tls_context": certs.server_context(), "authenticator": authenticator, "auth_required": True}
    wrong = "not-the-Secret-1"
    async with smtp_server(Sink(), **options) as port:
        await queue(db, [mail(1)])
        url = f"smtp://{quote(USER, safe='')}:{wrong}@127.0.0.1:{port}"
        summary = await Sender(db, settings(db, tmp_path, url, smtp_ca_file=str(certs.ca))).deliver_due()
    assert summary.unreachable and summary.waiting == 1
    [warning] = sender_records(caplog, "unreachable")
    assert "login refused: 535" in warning.getMessage()
    assert f"smtp://***@127.0.0.1:{port}" in warning.getMessage()
    assert wrong not in caplog.text and USER not in caplog.text


async def test_untrusted_certificate_is_refused(db: Database, tmp_path: Path, certs: Certs) -> None:
    async with smtp_server(Sink(), tls_context=certs.server_context()) as port:
        await queue(db, [mail(1)])
        url = f"smtp://127.0.0.1:{port}?tls=required"
        summary = await Sender(db, settings(db, tmp_path, url)).deliver_due()  # system CAs only
    assert summary.unreachable and "certificate" in summary.reason.lower()
    assert [(r.status, r.attempts) for r in await rows(db)] == [("queued", 0)]


async def test_tls_required_but_not_offered(db: Database, tmp_path: Path) -> None:
    sink = Sink()
    async with smtp_server(sink) as port:
        await queue(db, [mail(1)])
        summary = await Sender(
            db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}?tls=required")
        ).deliver_due()
    assert summary.unreachable and "STARTTLS" in summary.reason
    assert sink.received == []
    assert [r.status for r in await rows(db)] == ["queued"]


async def test_implicit_tls(db: Database, tmp_path: Path, certs: Certs) -> None:
    sink = Sink()
    async with smtp_server(sink, ssl_context=certs.server_context()) as port:
        ids = await queue(db, [mail(n) for n in range(2)])
        s = settings(db, tmp_path, f"smtps://127.0.0.1:{port}", smtp_ca_file=str(certs.ca))
        summary = await Sender(db, s).deliver_due()
    assert summary.sent == 2 and sorted(sink.message_ids()) == sorted(ids)


async def test_rate_limit_paces_sending(db: Database, tmp_path: Path) -> None:
    sink = Sink()
    async with smtp_server(sink) as port:
        await queue(db, [mail(n) for n in range(6)])
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}", smtp_rate=20))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await sender.deliver_due()
        elapsed = loop.time() - started
    # aiolimiter lets a burst of one second's worth through, then paces: 6 at 20/s fit the burst.
    assert len(sink.received) == 6 and elapsed < 2
    sink2 = Sink()
    async with smtp_server(sink2) as port:
        await queue(db, [mail(n) for n in range(6)])
        sender = Sender(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}", smtp_rate=4))
        started = loop.time()
        await sender.deliver_due()
        elapsed = loop.time() - started
    assert len(sink2.received) == 6 and elapsed >= 0.4  # 4 in the burst, then one per 0.25 s


# --- the Maildir fallback ---------------------------------------------------------------------


async def test_maildir_fallback_writes_each_message_once(db: Database, tmp_path: Path) -> None:
    s = settings(db, tmp_path)
    ids = await queue(db, [mail(n) for n in range(10)])
    summary = await Sender(db, s).deliver_due()
    assert (summary.sent, summary.waiting) == (10, 0)
    box = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    assert sorted(str(m["Message-ID"]) for m in box) == sorted(ids)

    # A crash after writing, before marking: the row is found `sending` with an old lease.
    first = (await rows(db))[0]
    async with db.transaction() as session:
        await session.exec(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id == first.id)
            .values(status="sending", next_attempt_at=now() - timedelta(minutes=1))
        )
    # Meanwhile a mail program has read it: moved from new/ to cur/ with flags.
    name = next(n for n in os.listdir(box._path + "/new") if f".outbox{first.id}_" in n)  # type: ignore[attr-defined]
    os.rename(tmp_path / "var/outbox/new" / name, tmp_path / "var/outbox/cur" / f"{name}:2,S")
    again = await Sender(db, s).deliver_due()
    assert again.sent == 1
    box = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    assert sorted(str(m["Message-ID"]) for m in box) == sorted(ids)  # still each once
    assert {r.status for r in await rows(db)} == {"sent"}


async def test_maildir_name_is_stable() -> None:
    from bot.mail.sender import Claimed

    at = datetime(2027, 3, 5, 9, 0, tzinfo=UTC)
    row = Claimed(7, "k", "section", "a@b.se", "s", "<m@x>", b"", 0, at, None, False, at)
    assert maildir_name(row) == maildir_name(row) and maildir_name(row).startswith(
        f"{int(at.timestamp())}.outbox7_"
    )
    assert ":" not in maildir_name(row) and "/" not in maildir_name(row)


# --- the worker -------------------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_run_forever_wakes_on_enqueue_and_stops(db: Database, tmp_path: Path) -> None:
    sink = Sink()
    async with smtp_server(sink) as port:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_forever(db, settings(db, tmp_path, f"smtp://127.0.0.1:{port}"), stop, poll_interval=600)
        )
        await asyncio.sleep(0.1)  # the first pass finds nothing; then it sleeps for 10 minutes
        ids = await queue(db, [mail(n) for n in range(3)])
        wake()
        await wait_for(lambda: len(sink.received) == 3)
        stop.set()
        await asyncio.wait_for(worker, 5)
    assert sorted(sink.message_ids()) == sorted(ids)


# --- the commands -----------------------------------------------------------------------------


async def test_outbox_send_and_list_commands(db: Database, tmp_path: Path) -> None:
    ids = await queue(db, [mail(1), mail(2, to="bo@exempelby.se")])
    sent = await asyncio.to_thread(run_cli, db.url, tmp_path, "outbox", "send")
    assert sent.returncode == 0, sent.stderr
    assert "skickade 2, försenade 0, misslyckade 0; 0 väntar" in sent.stdout
    box = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)  # the laptop default ./var/outbox
    assert sorted(str(m["Message-ID"]) for m in box) == sorted(ids)

    listed = await asyncio.to_thread(run_cli, db.url, tmp_path, "outbox", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    data = __import__("json").loads(listed.stdout)
    assert [(d["recipient"], d["status"], d["attempts"], d["kind"]) for d in data] == [
        ("anna@exempelby.se", "sent", 1, "section"),
        ("bo@exempelby.se", "sent", 1, "section"),
    ]
    text = await asyncio.to_thread(run_cli, db.url, tmp_path, "outbox", "list", "--status", "failed")
    assert text.returncode == 0 and "inga mejl med status failed" in text.stdout
    assert "0 köade, 0 skickas, 2 skickade, 0 misslyckade" in text.stdout


async def test_outbox_send_exits_75_when_the_server_is_unreachable(db: Database, tmp_path: Path) -> None:
    await queue(db, [mail(1)])
    port = free_port()
    (tmp_path / ".env").write_text(
        f"ASSESSBOT_SMTP_URL=smtp://u:{quote(PASSWORD, safe='')}@127.0.0.1:{port}\n"
    )
    result = await asyncio.to_thread(run_cli, db.url, tmp_path, "outbox", "send")
    assert result.returncode == 75, result.stderr
    assert "0 väntar" not in result.stdout and "1 väntar" in result.stdout
    assert f"smtp://***@127.0.0.1:{port}" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    listed = await asyncio.to_thread(run_cli, db.url, tmp_path, "outbox", "list")
    assert "queued" in listed.stdout and "1 köade" in listed.stdout
