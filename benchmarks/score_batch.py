"""Benchmark: answer sets per second through ``assessbot score --batch`` (whole process).

Generates N random answer sets for the bundled model (random choices on every question,
some unanswered, ranges on scale questions, random certainty and key figures), writes them
as JSON Lines, runs the real command in a subprocess, and prints the rate. Goal (issue 2):
at least 20,000 answer sets per second on one core.

    python benchmarks/score_batch.py [N] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

from conversations.questionnaire import Model, load_model


def random_document(model: Model, rng: random.Random) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in model.questions:
        if rng.random() < 0.08:
            continue
        plain = [o for o in q.options if not o.exclusive]
        exclusive = [o for o in q.options if o.exclusive]
        if exclusive and rng.random() < 0.15:
            options = [rng.choice(exclusive).id]
        elif q.scoring == "scale":
            i = rng.randrange(len(plain))
            j = min(len(plain) - 1, i + rng.choice((0, 0, 1, 2)))
            options = [o.id for o in plain[i : j + 1]]
        else:
            options = [o.id for o in plain if rng.random() < 0.55] or [plain[0].id]
        answers[q.id] = {"options": options, "certain": rng.random() < 0.65}
    validation: dict[str, Any] = {}
    for v in model.validation_questions:
        if rng.random() < 0.6:
            validation[v.id] = rng.choice(v.options).id if v.kind == "choice" else str(rng.randrange(0, 101))
    return {"model": model.id, "answers": answers, "validation": validation}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = load_model()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "answers.jsonl")
        with open(path, "wb") as f:
            for _ in range(args.n):
                f.write(orjson.dumps(random_document(model, rng)) + b"\n")
        cmd = [sys.executable, "-m", "bot", "score", "--batch", path]
        # pin to one core where the platform allows it
        if hasattr(os, "sched_setaffinity"):
            cmd = ["taskset", "-c", "0", *cmd] if _have("taskset") else cmd
        before = os.times()
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
        elapsed = time.perf_counter() - start
        after = os.times()
    # the command's own CPU time (user + system): steadier than wall time on a busy machine
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    lines = done.stdout.count(b"\n")
    assert lines == args.n, f"{lines} result lines for {args.n} answer sets"
    print(
        f"score --batch: {args.n} answer sets in {elapsed:.2f} s (whole process, one core): "
        f"{args.n / elapsed:,.0f} answer sets per second; CPU {cpu:.2f} s ({args.n / cpu:,.0f} per CPU second)"
    )


def _have(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


if __name__ == "__main__":
    main()
