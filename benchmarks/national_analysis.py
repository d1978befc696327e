"""Benchmark: the national analysis of 10,000 organisations × 5 cycles, on SQLite and PostgreSQL.

For each backend: a fresh database is migrated and filled with synthetic data (the same
generator as ``assessbot demo-data``; timed separately), then, in a fresh process (as
``assessbot report national`` runs), the national analysis of the last cycle, trends against
every earlier cycle included, is run ``--runs`` times, from the database to the finished
report dict. Prints the generation time, the first run (the scorer and the answer decoder
are built on the way) and the median of the others. Goal (issue 8): at most 5 s.

    python benchmarks/national_analysis.py [--organisations 10000] [--cycles 5] [--seed 1]
        [--runs 5] [--backend sqlite|postgresql|both] [--keep DIR]

PostgreSQL: the server at ``ASSESSBOT_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``, as the tests use); a database
``assessbot_bench_<random>`` is created there and dropped afterwards. ``--keep DIR`` keeps the
SQLite file in DIR (and the PostgreSQL database) and reuses them on the next run, skipping
generation. Wall-clock time is the goal's measure; the process's CPU time is printed beside
it because other processes on a shared machine inflate wall-clock figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from bot.analysis.national import national_report
from bot.analysis.synthetic import generate, store
from bot.db import migrate
from bot.db.database import Database
from conversations.questionnaire import load_model

PG_ADMIN = os.environ.get("ASSESSBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _exists(name: str) -> bool:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    head, _, _ = PG_ADMIN.rpartition("/")
    return head.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name


async def _fill(url: str, organisations: int, cycles: int, seed: int) -> float:
    model = load_model()
    start = time.perf_counter()
    data = generate(model, organisations, cycles, seed)
    db = Database(url)
    try:
        async with db.transaction() as session:
            counts = await store(session, data)
    finally:
        await db.dispose()
    elapsed = time.perf_counter() - start
    print(
        f"  generated {counts['organisations']} organisations, {counts['responses']} responses, "
        f"{counts['answers']} answers in {elapsed:.1f} s"
    )
    return elapsed


def _analyse_elsewhere(url: str, runs: int) -> list[tuple[float, float]]:
    """:func:`_analyse` in a fresh Python process; its timings."""
    done = subprocess.run(
        [sys.executable, __file__, "--analyse", url, "--runs", str(runs)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    *lines, last = done.stdout.strip().splitlines()
    for line in lines:
        print(line)
    return [tuple(t) for t in json.loads(last)]  # type: ignore[misc]


async def _analyse(url: str, runs: int) -> list[tuple[float, float]]:
    model = load_model()
    db = Database(url)
    times = []
    try:
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            report = await national_report(db, None, [model])
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        earlier = len(report["trend"]["cycles"]) - 1
        print(
            f"  cycle {report['cycle']}: {report['submitted']} submitted, {earlier} earlier cycles in the trend, "
            f"below level 1: {report['level_shares']['0']:.1%}"
        )
    finally:
        await db.dispose()
    return times


def _report(backend: str, generation: float | None, times: list[tuple[float, float]]) -> None:
    first = times[0]
    rest = times[1:] or times
    median = statistics.median(t for t, _ in rest)
    cpu = statistics.median(c for _, c in rest)
    gen = f"generation {generation:.1f} s; " if generation is not None else ""
    verdict = "meets" if max(first[0], median) <= 5.0 else "MISSES"
    print(
        f"{backend}: {gen}national analysis: first run {first[0]:.2f} s (CPU {first[1]:.2f} s), "
        f"median of {len(rest)} more {median:.2f} s (CPU {cpu:.2f} s) — {verdict} the goal of 5 s"
    )


def run_sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench-{args.organisations}x{args.cycles}-{args.seed}.db"
        url = f"sqlite+aiosqlite:///{path}"
        print(f"sqlite ({path})")
        generation = None
        if not path.exists():
            migrate.upgrade(url)
            generation = asyncio.run(_fill(url, args.organisations, args.cycles, args.seed))
        _report("sqlite", generation, _analyse_elsewhere(url, args.runs))


def run_postgresql(args: argparse.Namespace) -> None:
    name = (
        f"assessbot_bench_{args.organisations}x{args.cycles}_{args.seed}"
        if args.keep
        else (f"assessbot_bench_{secrets.token_hex(4)}")
    )
    url = _pg_url(name)
    print(f"postgresql ({name})")
    generation = None
    try:
        if not asyncio.run(_exists(name)):
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
            migrate.upgrade(url)
            generation = asyncio.run(_fill(url, args.organisations, args.cycles, args.seed))
        _report("postgresql", generation, _analyse_elsewhere(url, args.runs))
    finally:
        if not args.keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the databases (SQLite file in DIR) and reuse them"
    )
    parser.add_argument("--analyse", metavar="URL", help=argparse.SUPPRESS)  # the timed child process
    args = parser.parse_args()
    if args.analyse:
        print(json.dumps(asyncio.run(_analyse(args.analyse, args.runs))))
        return
    if args.backend in ("sqlite", "both"):
        run_sqlite(args)
    if args.backend in ("postgresql", "both"):
        run_postgresql(args)


if __name__ == "__main__":
    main()
