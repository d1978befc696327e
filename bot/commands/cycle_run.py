"""``assessbot cycle launch|close|reopen``: running a cycle from the command line.

``launch`` mails every organisation in scope (the first section to a known coordinator,
otherwise a letter asking management to appoint one); running it again sends only what
has not gone yet. ``close`` closes every response that is not submitted (the scheduler of
``serve`` does this by itself at the end of the deadline day). ``reopen`` lets one
organisation answer again until a day (default two weeks). ``--now`` (ISO time; without
an offset it is read in ``ASSESSBOT_TIMEZONE``) sets the moment, for rehearsals and tests.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.commands.common import CommandError, error, run_with_database
from bot.cycle.deadline import close_cycle, reopen
from bot.cycle.launch import CycleError, launch_cycle
from bot.db.database import Database
from bot.db.queries import Ambiguous, NotFound
from bot.db.tables import ORG_TYPES, now
from bot.settings import Settings
from conversations.questionnaire import ModelError, load_model


def moment(text: str | None, settings: Settings) -> datetime:
    """``--now``: an ISO time (local to ASSESSBOT_TIMEZONE when it has no offset), or the clock."""
    if not text:
        return now()
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"ogiltig tidpunkt för --now: {text!r} (skriv t.ex. 2027-09-06T09:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(settings.timezone))


def _names(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" och {len(items) - limit} till" if len(items) > limit else "")


def launch(args: argparse.Namespace) -> int:
    settings = Settings()
    types = [t.strip().lower() for t in args.type or []]
    if bad := [t for t in types if t not in ORG_TYPES]:
        error(f"okänd organisationstyp {bad[0]!r} (kommun, region eller myndighet)")
        return 2
    try:
        model = load_model(settings.model_path or None)
    except ModelError as exc:
        error("modellen kan inte användas: " + "; ".join(exc.problems))
        return 2

    async def body(db: Database) -> int:
        at = moment(args.now, settings)
        try:
            report = await launch_cycle(db, settings, model, args.name, now=at, types=types)
        except CycleError as exc:
            raise CommandError(str(exc)) from None
        print(f"omgång {report.cycle} lanserad: {report.queued} mejl köade")
        print(f"  {len(report.started)} svar startade (första avsnittet till samordnaren)")
        print(f"  {len(report.letters)} brev till ledningen om att utse en samordnare")
        if report.already:
            print(f"  {len(report.already)} hade redan fått sitt första mejl")
        if report.nobody:
            print(f"  {len(report.nobody)} utan kontaktperson att skriva till: {_names(report.nobody)}")
        return 0

    return run_with_database(settings, body)


def close(args: argparse.Namespace) -> int:
    settings = Settings()

    async def body(db: Database) -> int:
        try:
            closed = await close_cycle(db, args.name, now=moment(args.now, settings))
        except CycleError as exc:
            raise CommandError(str(exc)) from None
        if closed.already:
            print(f"omgång {closed.cycle} var redan stängd")
        else:
            print(
                f"omgång {closed.cycle} stängd: {closed.closed} svar stängda, {closed.submitted} inskickade"
            )
        return 0

    return run_with_database(settings, body)


def reopen_(args: argparse.Namespace) -> int:
    settings = Settings()
    until = None
    if args.until:
        try:
            until = date.fromisoformat(args.until)
        except ValueError:
            error(f"ogiltigt datum för --until: {args.until!r} (skriv ÅÅÅÅ-MM-DD)")
            return 2
    model = load_model(settings.model_path or None)

    async def body(db: Database) -> int:
        try:
            done = await reopen(
                db, settings, model, args.name, args.org, now=moment(args.now, settings), until=until
            )
        except (CycleError, NotFound, Ambiguous) as exc:
            raise CommandError(str(exc)) from None
        how = "startat" if done.started else "öppnat igen"
        print(
            f"svaret för {done.organisation} {how} till och med {done.until} (svar {done.response_id}); "
            f"{done.notified} mejl till samordnaren"
        )
        return 0

    return run_with_database(settings, body)
