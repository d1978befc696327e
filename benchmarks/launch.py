"""Benchmark: the launch mailing of a national cycle, rendered, queued and delivered.

Registers N organisations (default 650: 290 kommuner, 21 regioner, the rest agencies),
most with a coordinator and a manager, one in ten with management only, in a fresh
database; then times

(a) ``cycle launch``: every first section (about 23 KB, text + HTML) and every letter to
    management rendered and queued in the outbox, responses started, audit written
    (:func:`bot.cycle.launch.launch_cycle`);
(b) the outbox sender delivering all of it to a local SMTP sink (aiosmtpd in its own
    process), rate limit off.

Goal: the whole launch, (a) + (b), in at most 30 s.

    python benchmarks/launch.py [--n 650] [--postgres postgresql://postgres@127.0.0.1:5432/test]
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.cycle.launch import launch_cycle
from bot.db import migrate
from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation
from bot.mail.sender import Sender
from bot.settings import Settings
from conversations.questionnaire import load_model

GOAL = 30.0
FROM = "Infosäkkollen <infosakkollen@mcf.example.se>"
LAUNCH_AT = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def _sink(port: int, count: Any, ready: Any) -> None:
    """An SMTP server that counts what it accepts (its own process, as in outbound_mail.py)."""
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


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def organisation_types(n: int) -> list[str]:
    kommuner, regioner = round(n * 290 / 650), round(n * 21 / 650)
    return ["kommun"] * kommuner + ["region"] * regioner + ["myndighet"] * (n - kommuner - regioner)


async def register(db: Database, n: int, model_id: str, model_version: str) -> None:
    async with db.transaction() as session:
        for i, kind in enumerate(organisation_types(n)):
            org = Organisation(
                name=f"Organisation {i} ({kind})", type=kind, mail_domains=f"org{i}.example.se"
            )
            session.add(org)
            await session.flush()
            assert org.id is not None
            if i % 10 != 9:
                session.add(
                    Contact(
                        organisation_id=org.id,
                        email=f"samordnare@org{i}.example.se",
                        coordinator=True,
                        respondent=True,
                        language="en" if i % 17 == 0 else "sv",
                    )
                )
            session.add(Contact(organisation_id=org.id, email=f"chef@org{i}.example.se", manager=True))
        session.add(
            Cycle(
                name="2027",
                launch=date(2027, 3, 1),
                deadline=date(2027, 10, 31),
                model_id=model_id,
                model_version=model_version,
            )
        )


async def run(url: str, n: int, port: int, count: Any, tmp: str) -> tuple[float, float, int, int]:
    model = load_model()
    settings = Settings(
        database_url=url,
        smtp_url=f"smtp://127.0.0.1:{port}?tls=none",
        smtp_rate=0,
        mail_from=FROM,
        reply_domain="svar.mcf.example.se",
        secret_key=SecretStr("bench"),
        var_dir=tmp,
    )
    db = Database(url)
    try:
        await register(db, n, model.id, model.version)
        started = time.perf_counter()
        report = await launch_cycle(db, settings, model, "2027", now=LAUNCH_AT)
        t_launch = time.perf_counter() - started
        assert len(report.started) + len(report.letters) == n, report
        before = count.value
        started = time.perf_counter()
        summary = await Sender(db, settings, rate=0).deliver_due()
        t_send = time.perf_counter() - started
        assert summary.sent == report.queued and summary.waiting == 0, summary
        assert count.value - before == report.queued, "the sink did not get every message"
        return t_launch, t_send, report.queued, len(report.letters)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=650, help="organisations (default 650)")
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
                t_launch, t_send, mails, letters = asyncio.run(run(url, args.n, port, count, tmp))
            finally:
                if args.postgres:
                    asyncio.run(_pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        sink.terminate()
        sink.join(5)

    total = t_launch + t_send
    print(
        f"{args.n} organisations, {backend}: {mails} mails ({mails - letters} first sections, "
        f"{letters} letters to management), sink in its own process"
    )
    print(f"launch (render, queue, start responses): {t_launch:6.2f} s  {mails / t_launch:6.0f} mails/s")
    print(f"delivery by the outbox sender:           {t_send:6.2f} s  {mails / t_send:6.0f} mails/s")
    print(
        f"total: {total:.2f} s, {mails / total:.0f} mails/s (goal <= {GOAL:.0f} s) {'ok' if total <= GOAL else 'ABOVE GOAL'}"
    )
    return 0 if total <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
