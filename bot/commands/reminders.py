"""``assessbot reminders run``: queue every reminder that is due, exactly once.

Runs one pass of the reminder plan (``bot/reminders``) at ``--now`` (default: the clock):
due reminders are recorded, claimed and put in the outbox; running it again, or while
``serve`` runs its scheduler, sends nothing twice. ``--dry-run`` prints what would be sent
and skipped and writes nothing. One line per reminder, then a summary.
"""

from __future__ import annotations

import argparse
from zoneinfo import ZoneInfo

from bot.commands.common import CommandError, run_with_database
from bot.commands.cycle_run import moment
from bot.db.database import Database
from bot.reminders.run import describe, run_reminders
from bot.settings import Settings
from conversations.questionnaire import load_model

_STATUS = {
    "sent": "köad",
    "skipped": "hoppas över",
    "postponed": "skjuts upp",
    "would send": "skulle köas",
    "would skip": "skulle hoppas över",
}


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    model = load_model(settings.model_path or None)
    tz = ZoneInfo(settings.timezone)

    async def body(db: Database) -> int:
        at = moment(args.now, settings)
        try:
            report = await run_reminders(
                db, settings, model, now=at, dry_run=args.dry_run, cycle_name=args.cycle
            )
        except ValueError as exc:  # a reminder setting that cannot be read
            raise CommandError(str(exc)) from None
        for line in report.lines:
            due = line.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            reason = f" ({line.reason})" if line.reason else ""
            print(
                f"{_STATUS.get(line.status, line.status)}: {line.cycle} {line.step} {line.kind} "
                f"{line.organisation} <{line.email}> {due}{reason}"
            )
        counts = describe(report)
        when = at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        if args.dry_run:
            print(
                f"torrkörning {when}: {counts.get('would send', 0)} påminnelser skulle köas, "
                f"{counts.get('would skip', 0)} hoppas över; inget sparades"
            )
        else:
            print(
                f"{when}: {counts.get('sent', 0)} påminnelser köade, {counts.get('skipped', 0)} hoppas över, "
                f"{counts.get('postponed', 0)} uppskjutna"
            )
        return 0

    return run_with_database(settings, body)
