"""Benchmark: inbound replies per second, from ingest to the queued receipt.

Builds N realistic replies (Gmail-style, quoting the section mail, 2–4 answer lines,
a signature) from 100 organisations' coordinators, and feeds them one by one through
``Ingestor.ingest`` — the path every way in shares: store the raw message, read it,
route it, verify the sender, run the turn, store answers and history, render and queue
the receipt (text + HTML). Reports replies/s and p50/p99 latency on SQLite (and on
PostgreSQL when reachable), first one message at a time, then (SQLite) with several
deliveries at a time, as an MTA with several LMTP connections makes them. Goal (issue 4):
≥ 100 replies/s on SQLite, p99 ≤ 200 ms.

    python benchmarks/inbound_mail.py [--n 1000] [--concurrency 4] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from datetime import date
from email.message import EmailMessage
from email.utils import make_msgid

import asyncpg

from bot.db import migrate
from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, Response
from bot.mail.compose import reply_address
from bot.mail.ingest import Ingestor
from bot.settings import Settings
from conversations.parsing import format_answer
from conversations.questionnaire import Model, load_model

ORGS = 100


async def seed(db: Database, model: Model) -> list[tuple[int, str]]:
    out = []
    async with db.transaction() as s:
        cycle = Cycle(
            name="bench",
            launch=date(2027, 3, 1),
            deadline=date(2027, 10, 31),
            model_id=model.id,
            model_version=model.version,
        )
        s.add(cycle)
        await s.flush()
        for i in range(ORGS):
            org = Organisation(name=f"Kommun {i}", type="kommun", mail_domains=f"k{i}.se")
            s.add(org)
            await s.flush()
            email = f"anna@k{i}.se"
            s.add(Contact(organisation_id=org.id, email=email, coordinator=True, respondent=True))  # type: ignore[arg-type]
            r = Response(
                organisation_id=org.id, cycle_id=cycle.id, model_id=model.id, model_version=model.version
            )  # type: ignore[arg-type]
            s.add(r)
            await s.flush()
            assert r.id is not None
            out.append((r.id, email))
    return out


def replies(model: Model, settings: Settings, targets: list[tuple[int, str]], n: int) -> list[bytes]:
    rng = random.Random(1)
    quoted = "\n".join(
        "> " + line
        for line in ["Hej!", "", "Här är avsnitt 1 av 11 …"] + [q.text.get("sv") for q in model.questions[:6]]
    )
    out = []
    for _ in range(n):
        rid, email = rng.choice(targets)
        lines = []
        for q in rng.sample(model.questions, rng.randint(2, 4)):
            plain = [o.id for o in q.options if not o.exclusive]
            options = (
                [rng.choice(plain)] if q.scoring == "scale" else sorted(rng.sample(plain, rng.randint(1, 3)))
            )
            lines.append(format_answer(q, options, rng.random() < 0.7))
        msg = EmailMessage()
        msg["From"] = f"Anna Andersson <{email}>"
        msg["To"] = reply_address(settings, rid)
        msg["Subject"] = "SV: Infosäkkollen 2027: Ledningens styrning och kontroll (avsnitt 1 av 11)"
        msg["Message-ID"] = make_msgid(domain=email.split("@")[1])
        msg.set_content(
            "Hej,\n\n"
            + "\n".join(lines)
            + "\n\nMvh\nAnna Andersson\nInformationssäkerhetssamordnare\n\n"
            + "Den tors 4 mars 2027 kl 09:01 skrev Infosäkkollen <svar@svar.example.se>:\n"
            + quoted
            + "\n"
        )
        out.append(bytes(msg))
    return out


async def run(url: str, model: Model, n: int, concurrency: int = 1) -> tuple[float, float, float]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        settings = Settings(secret_key="bench", var_dir=tempfile.mkdtemp(), reply_domain="svar.example.se")
        targets = await seed(db, model)
        raw = replies(model, settings, targets, n)
        ingestor = Ingestor(db, settings, model)
        latencies: list[float] = []
        queue = list(reversed(raw))

        async def deliver() -> None:  # one LMTP connection delivering one message after another
            while queue:
                message = queue.pop()
                t0 = time.perf_counter()
                result = await ingestor.ingest(message, via="lmtp")
                latencies.append(time.perf_counter() - t0)
                assert result.status == "processed", result

        start = time.perf_counter()
        await asyncio.gather(*(deliver() for _ in range(concurrency)))
        rate = n / (time.perf_counter() - start)
        latencies.sort()
        return rate, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries at a time, second run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    model = load_model()
    with tempfile.TemporaryDirectory() as tmp:
        rate, p50, p99 = await run(f"sqlite+aiosqlite:///{tmp}/inbound.db", model, args.n)
        print(
            f"SQLite: {rate:,.0f} replies/s from ingest to queued receipt (p50 {p50:.1f} ms, p99 {p99:.1f} ms)"
        )
        rate, p50, p99 = await run(f"sqlite+aiosqlite:///{tmp}/inbound4.db", model, args.n, args.concurrency)
        print(
            f"SQLite, {args.concurrency} deliveries at a time: {rate:,.0f} replies/s"
            f" (p50 {p50:.1f} ms, p99 {p99:.1f} ms)"
        )
    name = f"assessbot_bench_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(args.pg, timeout=5)
    except OSError as exc:
        print(f"PostgreSQL not reachable ({exc}); skipped")
        return
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        head = args.pg.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://")
        rate, p50, p99 = await run(f"{head}/{name}", model, args.n)
        print(f"PostgreSQL: {rate:,.0f} replies/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
