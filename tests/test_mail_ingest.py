"""Inbound mail on SQLite and PostgreSQL: routing, senders, duplicates, crashes, automatic mail."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import make_msgid
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from bot.db.database import Database
from bot.db.tables import Attachment, Contact, InboundMessage, OutboxMessage, Response
from bot.mail.compose import reply_address
from bot.mail.ingest import EX_NOUSER, Ingestor
from bot.mail.listener import start_listener
from bot.settings import Settings
from bot.tokens import signed_token
from bot.turn import load_state
from conversations.questionnaire import Model
from tests.seed import Seeded, seed


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        secret_key="test-secret",
        var_dir=str(tmp_path),
        reply_domain="svar.example.se",
        mail_from="Infosäkkollen <infosakkollen@example.se>",
    )


def reply(
    to: str,
    sender: str,
    body: str,
    *,
    subject: str = "SV: Infosäkkollen 2027",
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="exempelby.se")
    msg["Date"] = "Fri, 05 Mar 2027 10:12:00 +0100"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg


async def answers_of(db: Database, response_id: int) -> dict[str, tuple[str, ...]]:
    async with db.transaction(readonly=True) as session:
        response = await session.get(Response, response_id)
        assert response is not None
        state = await load_state(session, response)
    return {q: r.options for q, r in state.answers.items()}


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.transaction(readonly=True) as session:
        return list((await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def text_of(message: OutboxMessage) -> str:
    """The decoded text of a queued message (all text parts), with its headers."""
    parsed = message_from_bytes(message.message, policy=default)
    parts = [p.get_content() for p in parsed.walk() if p.get_content_type() == "text/plain"]
    return "\n".join([str(v) for k, v in parsed.items()] + parts)


async def inbound(db: Database, inbound_id: int) -> InboundMessage:
    async with db.transaction(readonly=True) as session:
        row = await session.get(InboundMessage, inbound_id)
        assert row is not None
        return row


async def setup(db: Database, model: Model, tmp_path: Path) -> tuple[Seeded, Ingestor, Settings]:
    s = await seed(db, model)
    settings = settings_for(tmp_path)
    return s, Ingestor(db, settings, model), settings


async def test_reply_by_token_is_recorded_once_with_one_receipt(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(
        reply_address(settings, s.response_id),
        "Anna Andersson <Anna@Exempelby.se>",
        "Hej!\n\n1.1 a c säker\n1.2 b osäker\n\n/Anna",
    )
    first = await ingestor.ingest(bytes(msg), via="pipe")
    assert first.status == "processed" and first.code == 0
    again = await ingestor.ingest(bytes(msg), via="lmtp")
    assert again.status == "duplicate" and again.inbound_id == first.inbound_id
    assert await answers_of(db, s.response_id) == {"1.1": ("a", "c"), "1.2": ("b",)}
    receipts = [m for m in await outbox(db) if m.kind == "receipt"]
    assert len(receipts) == 1 and receipts[0].recipient == "anna@exempelby.se"
    assert "1.1" in text_of(receipts[0])
    row = await inbound(db, first.inbound_id or 0)
    assert row.status == "processed" and row.response_id == s.response_id and row.raw == bytes(msg)


async def test_an_answer_takes_two_transactions_and_one_look_up(
    db: Database, model: Model, tmp_path: Path
) -> None:
    """The sender check's row is read with the raw message and is the turn's first read."""
    s, ingestor, settings = await setup(db, model, tmp_path)
    statements: list[str] = []
    transactions: list[bool] = []  # read-only?

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()[:2]).upper())

    def began(conn: sa.Connection) -> None:
        options = conn.get_execution_options()
        transactions.append(bool(options.get("assessbot_readonly") or options.get("postgresql_readonly")))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    sa.event.listen(db.engine.sync_engine, "begin", began)
    try:
        msg = reply(reply_address(settings, s.response_id), "Anna <anna@exempelby.se>", "1.1 a säker\n")
        assert (await ingestor.ingest(bytes(msg), via="lmtp")).status == "processed"
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
        sa.event.remove(db.engine.sync_engine, "begin", began)
    assert await answers_of(db, s.response_id) == {"1.1": ("a",)}
    selects = [x for x in statements if x.startswith("SELECT RESPONSES")]
    assert len(selects) == 1, statements
    assert transactions == [False, False], statements  # two writing transactions, no reading one


async def test_reply_found_by_thread_when_the_address_lost_its_token(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, _settings = await setup(db, model, tmp_path)
    async with db.transaction() as session:
        response = await session.get(Response, s.response_id)
        assert response is not None
        response.thread_id = "<section-1@example.se>"
        session.add(response)
    msg = reply(
        "infosakkollen@example.se", "anna@exempelby.se", "1.3 b säker", in_reply_to="<section-1@example.se>"
    )
    result = await ingestor.ingest(bytes(msg), via="imap")
    assert result.status == "processed"
    assert await answers_of(db, s.response_id) == {"1.3": ("b",)}


async def test_crash_between_receiving_and_recording_is_processed_once_after_restart(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "1.4 a säker")
    _inbound_id, status = await ingestor.receive(bytes(msg), via="lmtp")  # then the process dies
    assert status == "received" and await answers_of(db, s.response_id) == {}
    restarted = Ingestor(db, settings, model)
    assert await restarted.process_pending() == 1
    assert await restarted.process_pending() == 0
    assert await answers_of(db, s.response_id) == {"1.4": ("a",)}
    assert len([m for m in await outbox(db) if m.kind == "receipt"]) == 1
    # the MTA delivers it again after the crash: nothing more happens
    assert (await restarted.ingest(bytes(msg), via="lmtp")).status == "duplicate"


async def test_two_processes_processing_the_same_message_record_it_once(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "1.5 a säker")
    inbound_id, _ = await ingestor.receive(bytes(msg), via="lmtp")
    other = Ingestor(db, settings, model)
    results = await asyncio.gather(ingestor.process(inbound_id), other.process(inbound_id))
    assert sorted(r.status for r in results) == ["duplicate", "processed"]
    async with db.transaction(readonly=True) as session:
        revisions = (await session.exec(sa.text("SELECT count(*) FROM answer_revisions"))).one()[0]  # type: ignore[call-overload]
    assert revisions == 1


async def test_unknown_sender_is_refused_with_a_reason_and_nothing_recorded(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(reply_address(settings, s.response_id), "someone@elsewhere.example", "1.1 a säker")
    result = await ingestor.ingest(bytes(msg), via="pipe")
    assert result.status == "refused" and "not a contact" in result.reason
    assert await answers_of(db, s.response_id) == {}
    notices = [m for m in await outbox(db) if m.kind == "notice"]
    assert [m.recipient for m in notices] == ["someone@elsewhere.example"]
    assert "registrerades inte" in text_of(notices[0])


async def test_colleague_in_the_same_domain_is_held_until_the_coordinator_approves(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(
        reply_address(settings, s.response_id),
        "Kalle Kollega <kalle@exempelby.se>",
        "1.6 a b säker\n1.7 nej osäker",
    )
    held = await ingestor.ingest(bytes(msg), via="pipe")
    assert held.status == "held" and await answers_of(db, s.response_id) == {}
    mails = await outbox(db)
    approval = next(m for m in mails if m.kind == "approval")
    assert approval.recipient == s.coordinator.email
    text = text_of(approval)
    assert "1.6 a b säker" in text and "godkann+" in text
    assert any(m.kind == "notice" and m.recipient == "kalle@exempelby.se" for m in mails)
    token = signed_token(settings.secret(), "approve", held.inbound_id or 0)
    # a respondent may not approve
    bo = reply(f"godkann+{token}@svar.example.se", s.respondent.email, "GODKÄNN")
    assert (await ingestor.ingest(bytes(bo), via="pipe")).status == "refused"
    yes = reply(f"godkann+{token}@svar.example.se", s.coordinator.email, "Godkänn\n\n/Anna")
    result = await ingestor.ingest(bytes(yes), via="pipe")
    assert result.status == "processed"
    answers = await answers_of(db, s.response_id)
    assert answers["1.6"] == ("a", "b") and "1.7" in answers
    async with db.transaction(readonly=True) as session:
        kalle = (await session.exec(select(Contact).where(Contact.email == "kalle@exempelby.se"))).one()
    assert kalle.respondent and not kalle.coordinator
    assert (await inbound(db, held.inbound_id or 0)).status == "processed"


async def test_colleague_rejected_records_nothing(db: Database, model: Model, tmp_path: Path) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    held = await ingestor.ingest(
        bytes(reply(reply_address(settings, s.response_id), "kalle@exempelby.se", "1.6 a säker")), via="pipe"
    )
    token = signed_token(settings.secret(), "approve", held.inbound_id or 0)
    no = await ingestor.ingest(
        bytes(reply(f"godkann+{token}@svar.example.se", s.coordinator.email, "Avvisa")), via="pipe"
    )
    assert no.reason == "rejected"
    assert await answers_of(db, s.response_id) == {}
    assert (await inbound(db, held.inbound_id or 0)).status == "refused"


async def test_out_of_office_is_never_answered_and_its_return_date_is_kept(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(
        reply_address(settings, s.response_id),
        "anna@exempelby.se",
        "Hej! Jag är på semester och är tillbaka den 16 augusti 2027. 1.1 a säker",
        subject="Automatiskt svar: Infosäkkollen 2027",
        headers={"Auto-Submitted": "auto-replied"},
    )
    result = await ingestor.ingest(bytes(msg), via="pipe")
    assert result.status == "auto_reply"
    assert await answers_of(db, s.response_id) == {}
    assert await outbox(db) == []
    async with db.transaction(readonly=True) as session:
        anna = await session.get(Contact, s.coordinator.id)
    assert (
        anna is not None
        and anna.away_until is not None
        and anna.away_until.date().isoformat() == "2027-08-16"
    )


async def test_bounce_marks_the_address_failing_and_tells_the_coordinator(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, _settings = await setup(db, model, tmp_path)
    dsn = (
        b"From: MAILER-DAEMON@mx.exempelby.se\r\nTo: infosakkollen@example.se\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn-1@mx.exempelby.se>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.exempelby.se\r\n\r\n"
        b"Final-Recipient: rfc822; bo@exempelby.se\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <bo@exempelby.se>: Recipient address rejected: User unknown\r\n\r\n"
        b"--b1--\r\n"
    )
    result = await ingestor.ingest(dsn, via="lmtp")
    assert result.status == "bounce"
    async with db.transaction(readonly=True) as session:
        bo = await session.get(Contact, s.respondent.id)
    assert bo is not None and bo.failing_since is not None
    notices = [m for m in await outbox(db) if m.kind == "notice"]
    assert [m.recipient for m in notices] == [s.coordinator.email]
    assert "bo@exempelby.se" in text_of(notices[0])


async def test_failed_dmarc_is_refused_silently(db: Database, model: Model, tmp_path: Path) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    msg = reply(
        reply_address(settings, s.response_id),
        "anna@exempelby.se",
        "1.1 a säker",
        headers={
            "Authentication-Results": "mx.example.se; spf=fail smtp.mailfrom=exempelby.se; dkim=none; dmarc=fail header.from=exempelby.se"
        },
    )
    result = await ingestor.ingest(bytes(msg), via="lmtp")
    assert result.status == "refused" and "dmarc=fail" in result.reason
    assert await answers_of(db, s.response_id) == {} and await outbox(db) == []


async def test_unmatched_mail_gets_a_polite_answer_and_a_forged_token_is_an_unknown_recipient(
    db: Database, model: Model, tmp_path: Path
) -> None:
    _s, ingestor, _settings = await setup(db, model, tmp_path)
    plain = await ingestor.ingest(
        bytes(reply("infosakkollen@example.se", "anna@exempelby.se", "1.1 a säker")), via="pipe"
    )
    assert plain.status == "unmatched" and plain.code == 0
    assert [m.recipient for m in await outbox(db)] == ["anna@exempelby.se"]
    forged = await ingestor.ingest(
        bytes(reply("svar+aaaa-bbbbbbbbbbbbbbbbbbbb@svar.example.se", "anna@exempelby.se", "1.1 a")),
        via="pipe",
    )
    assert forged.status == "unmatched" and forged.code == EX_NOUSER
    assert (await inbound(db, forged.inbound_id or 0)).raw  # kept for the administrator


async def test_attachments_are_kept_as_evidence_and_an_oversized_one_is_answered(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    ingestor.attachment_limit = 1_000_000
    msg = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "1.8 a säker\nSe bilaga.")
    msg.add_attachment(b"%PDF-1.4 underlag", maintype="application", subtype="pdf", filename="riskanalys.pdf")
    msg.add_attachment(b"x" * 10_000_000, maintype="application", subtype="pdf", filename="stor.pdf")
    result = await ingestor.ingest(bytes(msg), via="lmtp")
    assert result.status == "processed"
    assert await answers_of(db, s.response_id) == {"1.8": ("a",)}
    async with db.transaction(readonly=True) as session:
        kept = (await session.exec(select(Attachment))).all()
    assert [(a.filename, a.questions) for a in kept] == [("riskanalys.pdf", "1.8")]
    notice = next(m for m in await outbox(db) if m.kind == "notice")
    assert "stor.pdf" in text_of(notice)


async def test_broken_mime_and_unknown_charset_still_answer(
    db: Database, model: Model, tmp_path: Path
) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    raw = (
        f"From: anna@exempelby.se\r\nTo: {reply_address(settings, s.response_id)}\r\nSubject: SV: avsnitt\r\n"
        "Message-ID: <broken-1@exempelby.se>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="zz"\r\n\r\n'
        '--zz\r\nContent-Type: text/plain; charset="x-okand"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        "1.9 a s=E4ker\r\n"
        "--zz\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n"
    ).encode()
    result = await ingestor.ingest(raw, via="lmtp")
    assert result.status == "processed"
    assert await answers_of(db, s.response_id) == {"1.9": ("a",)}


async def test_lmtp_listener_accepts_our_recipients_only(db: Database, model: Model, tmp_path: Path) -> None:
    s, ingestor, settings = await setup(db, model, tmp_path)
    server = await start_listener(ingestor, "127.0.0.1", 0, protocol="lmtp", reply_domain="svar.example.se")
    port = server.sockets[0].getsockname()[1]
    msg = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "2.1 a säker")

    def deliver() -> dict[str, tuple[int, bytes]]:
        with smtplib.LMTP("127.0.0.1", port) as client:
            return client.sendmail(
                "anna@exempelby.se", [reply_address(settings, s.response_id), "x@other.example"], bytes(msg)
            )

    try:
        refused = await asyncio.to_thread(deliver)
    finally:
        server.close()
        await server.wait_closed()
    assert list(refused) == ["x@other.example"]
    assert await answers_of(db, s.response_id) == {"2.1": ("a",)}


async def test_imap_poller_reads_unseen_replies_from_dovecot_once(
    db: Database, model: Model, tmp_path: Path, dovecot
) -> None:  # type: ignore[no-untyped-def]
    from bot.mail.imap import ImapConfig, ImapPoller

    s, ingestor, settings = await setup(db, model, tmp_path)
    first = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "2.2 a säker")
    second = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "2.3 b osäker")

    def deliver(msg: EmailMessage) -> None:
        with smtplib.LMTP("127.0.0.1", dovecot.lmtp_port) as client:
            client.sendmail("anna@exempelby.se", [dovecot.user], bytes(msg))

    await asyncio.to_thread(deliver, first)
    poller = ImapPoller(ingestor, ImapConfig.from_url(dovecot.imap_url), poll_seconds=1)
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0  # flagged \Seen: not read again
    assert await answers_of(db, s.response_id) == {"2.2": ("a",)}
    # waiting with IDLE: a new message is processed while the poller runs
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run_forever(stop))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(deliver, second)
    for _ in range(100):
        if "2.3" in await answers_of(db, s.response_id):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert await answers_of(db, s.response_id) == {"2.2": ("a",), "2.3": ("b",)}


def _run(
    args: list[str], db_url: str, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSESSBOT_")}
    env.update(ASSESSBOT_DATABASE_URL=db_url, ASSESSBOT_SECRET_KEY="test-secret", ASSESSBOT_REPLY_DOMAIN="svar.example.se",
               ASSESSBOT_VAR_DIR=str(cwd))  # fmt: skip
    return subprocess.run(args, input=stdin, capture_output=True, cwd=cwd, env=env, timeout=120)


async def test_a_process_killed_between_receiving_and_recording(
    db: Database, model: Model, tmp_path: Path
) -> None:
    """The MTA hands a message over; the process dies right after storing it (os._exit).
    The MTA, having no answer, delivers it again: it is processed then, exactly once."""
    s, _, settings = await setup(db, model, tmp_path)
    msg = reply(reply_address(settings, s.response_id), "anna@exempelby.se", "3.1 a säker\n3.2 a b säker")
    raw = bytes(msg)
    killer = (
        "import asyncio, os, sys\n"
        "from bot.db.database import Database\nfrom bot.mail.ingest import Ingestor\n"
        "from bot.settings import Settings\nfrom conversations.questionnaire import load_model\n"
        "async def main():\n"
        "    s = Settings(); db = Database(s.database_url)\n"
        "    await Ingestor(db, s, load_model()).receive(sys.stdin.buffer.read(), via='pipe')\n"
        "    os._exit(9)  # killed before recording\n"
        "asyncio.run(main())\n"
    )
    died = await asyncio.to_thread(_run, [sys.executable, "-c", killer], db.url, tmp_path, raw)
    assert died.returncode == 9, died.stderr
    assert await answers_of(db, s.response_id) == {}
    again = await asyncio.to_thread(
        _run, [sys.executable, "-m", "bot", "mail", "ingest"], db.url, tmp_path, raw
    )
    assert again.returncode == 0, again.stderr
    third = await asyncio.to_thread(
        _run, [sys.executable, "-m", "bot", "mail", "ingest"], db.url, tmp_path, raw
    )
    assert third.returncode == 0
    assert await answers_of(db, s.response_id) == {"3.1": ("a",), "3.2": ("a", "b")}
    assert len([m for m in await outbox(db) if m.kind == "receipt"]) == 1


async def test_mail_ingest_command_exit_codes(db: Database, model: Model, tmp_path: Path) -> None:
    s, _, settings = await setup(db, model, tmp_path)
    ok = bytes(reply(reply_address(settings, s.response_id), "anna@exempelby.se", "3.3 a säker"))
    forged = bytes(reply("svar+aaaa-bbbbbbbbbbbbbbbbbbbb@svar.example.se", "anna@exempelby.se", "3.3 a"))
    cmd = [sys.executable, "-m", "bot", "mail", "ingest"]
    assert (await asyncio.to_thread(_run, cmd, db.url, tmp_path, ok)).returncode == 0
    assert (await asyncio.to_thread(_run, cmd, db.url, tmp_path, forged)).returncode == 67
    assert (await asyncio.to_thread(_run, cmd, db.url, tmp_path, b"not a mail at all")).returncode == 65
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert (await asyncio.to_thread(_run, cmd, unmigrated, tmp_path, ok)).returncode == 75
