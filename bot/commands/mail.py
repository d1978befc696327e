"""``assessbot mail ingest [FILE]``: one inbound message from an MTA pipe or a file.

Exit codes follow sysexits, as MTAs expect: 0 accepted (stored; processed, held or
answered), 65 unusable message, 67 unknown recipient, 75 try again later (the database
is unreachable or not migrated).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.commands.common import schema_problem
from bot.db.database import Database
from bot.mail.ingest import EX_TEMPFAIL, Ingestor
from bot.settings import Settings
from conversations.questionnaire import load_model


def ingest(args: argparse.Namespace) -> int:
    raw = sys.stdin.buffer.read() if args.file in (None, "-") else open(args.file, "rb").read()  # noqa: SIM115
    settings = Settings()

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            if problem := await schema_problem(db):
                print(f"assessbot: {problem}", file=sys.stderr)
                return EX_TEMPFAIL
            ingestor = Ingestor(db, settings, load_model(settings.model_path or None))
            result = await ingestor.ingest(raw, via="pipe", envelope_to=args.recipient or [])
        finally:
            await db.dispose()
        if result.code:
            print(f"assessbot: {result.status}: {result.reason}", file=sys.stderr)
        return result.code

    return asyncio.run(run())
