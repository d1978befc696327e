"""Benchmark: the outbox sender against a bare aiosmtplib loop, to the same SMTP sink.

Queues N realistic messages (about 8 KB each, multipart/alternative text + HTML, Swedish,
every header a section mail has) in a fresh database, then measures in the same run:

(a) bare: one aiosmtplib connection sending the stored bytes of every message in a loop,
    nothing else: the ceiling for this machine, this sink and this client library;
(b) sender: ``Sender.deliver_due()`` delivering the outbox (claims, one SMTP connection,
    one commit per accepted message), rate limit off.

The sink is aiosmtpd in a separate process, so it does not share the event loop or the
CPU time of the code measured. Goal: the sender reaches at least half the bare rate.

    python benchmarks/outbound_mail.py [--n 2000] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Without ``--postgres`` the database is a temporary SQLite file (the embedded default);
with it, a temporary database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import secrets
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import SQLModel

from bot.db import migrate
from bot.db.database import Database
from bot.db.tables import now
from bot.mail.outbox import enqueue
from bot.mail.sender import Sender
from bot.settings import Settings

GOAL = 0.5
FROM = "Infosäkkollen <infosakkollen@mcf.example.se>"

QUESTIONS = [
    "Har ledningen fastställt en informationssäkerhetspolicy som gäller hela organisationen?",
    "Finns det en utsedd funktion med ansvar för att samordna informationssäkerhetsarbetet?",
    "Genomförs riskanalyser för informationstillgångar enligt en dokumenterad metod?",
    "Är informationstillgångarna klassade utifrån konfidentialitet, riktighet och tillgänglighet?",
    "Följer ledningen upp informationssäkerhetsarbetet minst en gång per år?",
    "Finns det rutiner för att hantera och rapportera informationssäkerhetsincidenter?",
]
OPTIONS = [
    "Ja, beslutat och kommunicerat",
    "Delvis, arbete pågår",
    "Nej, men planerat under året",
    "Nej",
    "Vet inte",
]


def section_mail(n: int) -> EmailMessage:
    """A section mail of about 8 KB: plain text and an HTML alternative."""
    to = f"samordnare{n}@kommun{n % 290}.example.se"
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = formataddr((f"Samordnare {n}", to))
    msg["Subject"] = f"Infosäkkollen 2027: avsnitt 2 av 6 – Ledningens styrning ({n})"
    msg["Date"] = format_datetime(now())
    msg["Message-ID"] = make_msgid(domain="mcf.example.se")
    msg["Reply-To"] = formataddr(("MCF", f"svar+{secrets.token_urlsafe(24)}@svar.mcf.example.se"))
    msg["In-Reply-To"] = msg["References"] = make_msgid(domain="mcf.example.se")
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = "sv"
    text = ["Hej!", "", "Här kommer nästa avsnitt i uppföljningen. Svara direkt på det här mejlet.", ""]
    html = ["<html><body style='font-family:sans-serif'><p>Hej!</p>", "<p>Här kommer nästa avsnitt.</p>"]
    for i, q in enumerate((QUESTIONS * 2)[:9], 1):
        text.append(f"Fråga 2.{i}: {q}")
        html.append(f"<h3 style='margin:1em 0 .3em'>Fråga 2.{i}</h3><p>{q}</p><ol type='a'>")
        for letter, option in zip("abcde", OPTIONS, strict=True):
            text.append(f"  {letter}) {option}")
            html.append(f"<li style='margin:.2em 0'>{option}</li>")
        text += ["  Säker? ja / nej    Kommentar:", ""]
        html.append("</ol><p style='color:#555'>Säker? ja / nej. Kommentar:</p>")
    text += ["Exempel på svar: 2.1 a säker", "", "Med vänliga hälsningar", "Myndigheten för civilt försvar"]
    html.append("<p>Med vänliga hälsningar<br>Myndigheten för civilt försvar</p></body></html>")
    msg.set_content("\n".join(text) + "\n")
    msg.add_alternative("\n".join(html) + "\n", subtype="html")
    return msg


# --- the sink: aiosmtpd in its own process -------------------------------------------------------


def _sink(port: int, count: Any, ready: Any) -> None:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            with count.get_lock():
                count.value += 1
            return "250 2.0.0 Ok: queued"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: SMTP(Handler(), hostname="sink.localhost"), "127.0.0.1", port)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the runs --------------------------------------------------------------------------------------


async def fill(db: Database, n: int) -> int:
    size = 0
    async with db.transaction() as session:
        for i in range(n):
            msg = section_mail(i)
            size += len(bytes(msg))
            await enqueue(session, msg, key=f"bench:{i}", kind="section")
    return size // n


async def stored(db: Database) -> list[tuple[str, bytes]]:
    t = SQLModel.metadata.tables["outbox"]
    async with db.transaction(readonly=True) as session:
        result = await session.exec(sa.select(t.c.recipient, t.c.message).order_by(t.c.id))
        return [(r, bytes(m)) for r, m in result.all()]


async def bare(port: int, messages: list[tuple[str, bytes]]) -> float:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.localhost")
    started = time.perf_counter()
    await smtp.connect()
    for recipient, raw in messages:
        await smtp.sendmail("infosakkollen@mcf.example.se", [recipient], raw)
    await smtp.quit()
    return time.perf_counter() - started


async def run(url: str, n: int, port: int, count: Any) -> tuple[float, float, int]:
    db = Database(url)
    try:
        size = await fill(db, n)
        messages = await stored(db)
        before = count.value
        t_bare = await bare(port, messages)
        assert count.value - before == n, "the sink did not get every message of the bare run"
        settings = Settings(
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{port}?tls=none",
            smtp_rate=0,
            mail_from=FROM,
            secret_key=SecretStr("bench"),
        )
        sender = Sender(db, settings, rate=0)
        before = count.value
        started = time.perf_counter()
        summary = await sender.deliver_due()
        t_sender = time.perf_counter() - started
        assert summary.sent == n and summary.waiting == 0, summary
        assert count.value - before == n, "the sink did not get every message of the sender run"
        return t_bare, t_sender, size
    finally:
        await db.dispose()


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="messages (default 2000)")
    p.add_argument("--postgres", metavar="DSN", help="run on a temporary database on this PostgreSQL server")
    args = p.parse_args(argv)

    port = free_port()
    ctx = mp.get_context("spawn")
    count = ctx.Value("l", 0)
    ready = ctx.Event()
    sink = ctx.Process(target=_sink, args=(port, count, ready), daemon=True)
    sink.start()
    if not ready.wait(30):
        print("the SMTP sink did not start", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres:
                name = f"assessbot_bench_{secrets.token_hex(4)}"
                asyncio.run(_pg_admin(args.postgres, f'CREATE DATABASE "{name}"'))
                head = args.postgres.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://", 1)
                url, backend = f"{head}/{name}", "PostgreSQL"
            else:
                url, backend = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", "SQLite"
            try:
                migrate.upgrade(url)
                t_bare, t_sender, size = asyncio.run(run(url, args.n, port, count))
            finally:
                if args.postgres:
                    asyncio.run(_pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        sink.terminate()
        sink.join(5)

    bare_rate, sender_rate = args.n / t_bare, args.n / t_sender
    ratio = sender_rate / bare_rate
    print(
        f"{args.n} messages of {size / 1024:.1f} KB (multipart text + HTML), {backend}, sink in its own process"
    )
    print(f"bare aiosmtplib loop, one connection: {bare_rate:8.0f} messages/s ({t_bare:.2f} s)")
    print(f"outbox sender (claim, send, commit):  {sender_rate:8.0f} messages/s ({t_sender:.2f} s)")
    print(f"ratio sender/bare: {ratio:.2f} (goal >= {GOAL}) {'ok' if ratio >= GOAL else 'BELOW GOAL'}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
