"""Benchmark: turns per second through the engine alone and through the stored path.

The stored path is ``bot.turn.handle_turn``: load the response's state, run the engine,
store the changed answers with their history in one transaction — on SQLite (a file in a
temporary directory, WAL) and on PostgreSQL (a scratch database on the local server, if
reachable). Each turn answers one to three questions of a 200-organisation population,
so states grow as in real use. Goals (issue 3): ≥ 2,000 engine turns/s and ≥ 300 stored
turns/s on SQLite.

    python benchmarks/stored_turns.py [--turns N] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from datetime import UTC, date, datetime

import asyncpg

from bot.db import migrate
from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, Response
from bot.effects import mail_effects
from bot.settings import Settings
from bot.turn import handle_turn
from conversations.engine import step
from conversations.parsing import format_answer
from conversations.questionnaire import Model, load_model
from conversations.state import Actor, ConversationState, Turn

ORGS = 200


def turn_texts(model: Model, n: int, rng: random.Random) -> list[str]:
    texts = []
    for _ in range(n):
        lines = []
        for q in rng.sample(model.questions, rng.randint(1, 3)):
            plain = [o.id for o in q.options if not o.exclusive]
            options = [rng.choice(plain)] if q.scoring == "scale" else rng.sample(plain, rng.randint(1, 3))
            options.sort()
            lines.append(format_answer(q, options, rng.random() < 0.7))
        texts.append("\n".join(lines))
    return texts


def bench_engine(model: Model, texts: list[str]) -> float:
    actor = Actor("anna@exempelby.se", coordinator=True)
    state = ConversationState()
    at = datetime.now(UTC)
    start = time.perf_counter()
    for text in texts:
        state = step(model, state, Turn(actor, "mail", at, text)).state
    return len(texts) / (time.perf_counter() - start)


async def seed(db: Database, model: Model) -> list[int]:
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
        ids = []
        for i in range(ORGS):
            org = Organisation(name=f"Kommun {i}", type="kommun")
            s.add(org)
            await s.flush()
            s.add(Contact(organisation_id=org.id, email=f"anna@k{i}.se", coordinator=True))
            r = Response(
                organisation_id=org.id, cycle_id=cycle.id, model_id=model.id, model_version=model.version
            )  # type: ignore[arg-type]
            s.add(r)
            await s.flush()
            ids.append(r.id)
    return ids  # type: ignore[return-value]


async def bench_stored(
    url: str, model: Model, texts: list[str], with_mail: bool
) -> tuple[float, float, float]:
    migrate_url = url
    await asyncio.to_thread(migrate.upgrade, migrate_url)
    db = Database(url)
    try:
        ids = await seed(db, model)
        effects = None
        if with_mail:
            effects = mail_effects(Settings(secret_key="bench", var_dir=tempfile.mkdtemp()), model)
        rng = random.Random(2)
        latencies = []
        start = time.perf_counter()
        for text in texts:
            rid = ids[rng.randrange(len(ids))]
            actor = Actor(f"anna@k{rid}.se", coordinator=True)
            t0 = time.perf_counter()
            await handle_turn(
                db,
                model,
                rid,
                Turn(actor, "mail" if with_mail else "cli", datetime.now(UTC), text),
                effects=effects,
            )
            latencies.append(time.perf_counter() - t0)
        rate = len(texts) / (time.perf_counter() - start)
        latencies.sort()
        return rate, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    model = load_model()
    texts = turn_texts(model, args.turns, random.Random(1))
    print(f"engine alone: {bench_engine(model, texts):,.0f} turns/s")
    with tempfile.TemporaryDirectory() as tmp:
        for mail in (False, True):
            url = f"sqlite+aiosqlite:///{tmp}/bench{int(mail)}.db"
            rate, p50, p99 = await bench_stored(url, model, texts, mail)
            label = "stored + receipt mail queued" if mail else "stored"
            print(f"SQLite, {label}: {rate:,.0f} turns/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
    name = f"assessbot_bench_{secrets.token_hex(4)}"
    try:
        conn = await asyncpg.connect(args.pg, timeout=5)
    except OSError as exc:
        print(f"PostgreSQL not reachable ({exc}); skipped")
        return
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        head = args.pg.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://")
        for mail in (False, True):
            rate, p50, p99 = await bench_stored(f"{head}/{name}", model, texts, mail)
            label = "stored + receipt mail queued" if mail else "stored"
            print(f"PostgreSQL, {label}: {rate:,.0f} turns/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)")
            if not mail:
                await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
