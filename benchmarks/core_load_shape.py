"""Benchmark: the core path's CPU per turn by the shape of its load.

``bot.turn.handle_turn`` with the web chat benchmark's turns (``benchmarks/web_chat.py``:
chat forms of 500 coordinators, each on a response of their own), on SQLite (WAL) in a
temporary directory, in one process, measured in alternation, round after round:

- in a **closed loop**: ``N`` callers at once, each taking the next turn when its last one
  is stored (what the web chat benchmark's (b) is judged against);
- in an **open loop**: Poisson arrivals at a fixed rate, each turn started at its time by
  one scheduler task, each session's turns one after another (as a chat page sends them),
  latency from the scheduled time (as (b) measures the chat's).

Turns that wait at once share commits (``bot/db/writers.py``), and a loop that runs out of
work pays for sleeping and waking; callers in a closed loop always have turns waiting,
arrivals at a few hundred per second rarely do. So the same turns cost more CPU each in an
open loop, the more the lower the rate: the difference is the load's shape, not the work.
A web chat's sessions arrive in an open loop. Each line also prints the share of the
machine's CPU time that its host took away meanwhile (``steal``).

    python benchmarks/core_load_shape.py [--rates 250,450,650,850,1000] [--callers 1,16,64]
                                         [--seconds 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web_chat import PlannedTurn, Session, direct_core, direct_rate, plan_turns, seed, steal_since, stolen

from bot.db import migrate
from bot.db.database import Database
from bot.event_loop import new_event_loop
from conversations.questionnaire import Model, load_model


async def open_loop(
    url: str, tmp: str, sessions: list[Session], model: Model, rate: float, seconds: float, seed_: int
) -> dict[str, float]:
    """Poisson arrivals at ``rate`` turns/s for ``seconds``: the rate stored, CPU per turn,
    p50/p99 latency from each turn's scheduled time and the host's steal."""
    async with direct_core(url, tmp, model) as store:
        rng = random.Random(seed_)
        gaps = (rng.expovariate(rate) for _ in itertools.count())
        arrivals = list(itertools.takewhile(lambda t: t < seconds, itertools.accumulate(gaps)))
        planned = plan_turns(model, sessions, len(arrivals), seed_)
        sessions_busy: dict[int, asyncio.Lock] = {}
        latencies: list[float] = []

        async def turn_at(at: float, planned_turn: PlannedTurn) -> None:
            async with sessions_busy.setdefault(planned_turn[0], asyncio.Lock()):  # its last turn first
                await store(planned_turn)
            latencies.append(time.perf_counter() - at)

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        cpu = time.process_time()
        steal_before = stolen()
        for offset, planned_turn in zip(arrivals, planned, strict=True):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(turn_at(start + offset, planned_turn)))
        await asyncio.gather(*tasks)
        latencies.sort()
        return {
            "rate": len(latencies) / (time.perf_counter() - start),
            "cpu_ms": (time.process_time() - cpu) * 1000 / len(latencies),
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
            "steal": steal_since(steal_before),
        }


async def main(args: argparse.Namespace) -> None:
    model = load_model()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(migrate.upgrade, url)
        db = Database(url)
        sessions = await seed(db, model, args.sessions)
        await db.dispose()
        print(f"{args.sessions} sessions, SQLite (WAL) in {tmp}", flush=True)
        for round_ in range(1, args.rounds + 1):
            for callers in args.callers:
                r = await direct_rate(url, tmp, sessions, model, args.turns, callers)
                print(
                    f"round {round_}: closed loop, {callers:3d} caller(s):    {r['rate']:6,.0f} turns/s,"
                    f" p99 {r['p99']:6.1f} ms, CPU {r['cpu_ms']:.2f} ms/turn, steal {r['steal']:.1f} %",
                    flush=True,
                )
            for rate in args.rates:
                r = await open_loop(url, tmp, sessions, model, rate, args.seconds, round_)
                print(
                    f"round {round_}: open loop, offered {rate:5,.0f}/s: {r['rate']:6,.0f} turns/s,"
                    f" p50 {r['p50']:5.1f} ms, p99 {r['p99']:6.1f} ms, CPU {r['cpu_ms']:.2f} ms/turn,"
                    f" steal {r['steal']:.1f} %",
                    flush=True,
                )


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rates", type=_numbers, default=[250, 450, 650, 850, 1000], help="open-loop rates")
    parser.add_argument(
        "--callers",
        type=lambda v: [int(x) for x in _numbers(v)],
        default=[1, 16, 64],
        help="closed-loop callers",
    )
    parser.add_argument("--turns", type=int, default=3000, help="turns of each closed-loop run")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each open-loop run")
    parser.add_argument("--rounds", type=int, default=2)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # the service's loop
        runner.run(main(parser.parse_args()))
