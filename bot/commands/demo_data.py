"""``assessbot demo-data``: realistic organisations and submitted responses over several cycles.

For demos, tests and benchmarks (see :mod:`bot.analysis.synthetic`). Everything is written
in one transaction; a database that already holds demo data, or a cycle of the same name,
is refused with a message and exit code 1, so running the command twice changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bot.analysis.synthetic import AlreadyGenerated, check_empty, generate, store
from bot.commands.common import CommandError, run_with_database
from bot.db.database import Database
from bot.settings import Settings
from conversations.questionnaire import ModelError, load_model


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.organisations < 1 or args.cycles < 1:
        raise SystemExit("assessbot: --organisations och --cycles måste vara minst 1")
    if args.cycles > 20:
        raise SystemExit("assessbot: högst 20 omgångar")

    async def body(db: Database) -> int:
        try:
            model = load_model(args.model or settings.model_path or None)
        except ModelError as exc:
            raise CommandError("modellen kan inte användas:\n" + "\n".join(exc.problems), code=2) from None
        names = [str(args.first_year + 2 * k) for k in range(args.cycles)]
        try:
            async with db.transaction(readonly=True) as session:
                await check_empty(session, names)
            started = time.perf_counter()
            data = await asyncio.to_thread(
                generate, model, args.organisations, args.cycles, args.seed, args.first_year
            )
            async with db.transaction() as session:
                counts = await store(session, data)
        except AlreadyGenerated as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.perf_counter() - started
        shares = []
        for k, cyc in enumerate(data.cycles):
            shares.append(f"{cyc.name}: {data.submitted(k)} inskickade")
        print(
            f"demodata (seed {args.seed}): {counts['organisations']} organisationer, {counts['contacts']} kontakter, "
            f"{len(data.cycles)} omgångar, {counts['responses']} svar, {counts['answers']} svarsrader "
            f"på {elapsed:.1f} s"
        )
        print("; ".join(shares))
        return 0

    return run_with_database(settings, body)
