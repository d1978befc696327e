"""``assessbot org add`` and ``assessbot org import``: registering organisations and contacts.

``org add`` checks everything before it opens the database, refuses an organisation that
is already registered (same organisation number; without one, same name and type) and
prints the new organisation's id.

``org import FILE.csv|FILE.xlsx`` checks every row first. A row with a problem is reported
on stderr as ``rad N: …`` and nothing of it is stored; a row for an organisation that is
already registered is reported as "finns redan" and skipped; two rows with the same
organisation number are a problem in the later one. All good rows are then stored in one
transaction, so a failure while storing leaves the database as it was. The summary on
stdout lists what was stored and skipped. Exit codes: 0 every row stored or already
registered, 1 some row refused, 2 the file cannot be used at all (unreadable, a required
column missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bot.commands.common import CommandError, error, run_with_database
from bot.db.database import Database
from bot.organisations import (
    ImportOutcome,
    Invalid,
    Known,
    import_columns,
    import_rows,
    organisation_entry,
    store,
)
from bot.settings import Settings
from bot.sheets import SheetError, read_sheet


def add(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        entry = organisation_entry(
            name=args.name,
            type=args.type,
            orgnr=args.orgnr or "",
            county=args.county or "",
            size=args.size or "",
            coordinators=args.coordinator,
            managers=args.manager or (),
            respondents=args.respondent or (),
            language=args.lang or "",
            domains=args.domain or (),
            default_language=settings.language,
        )
    except Invalid as exc:
        for problem in exc.problems:
            error(problem)
        return 1
    new_id: list[int] = []

    async def body(db: Database) -> int:
        try:
            async with db.transaction() as session:
                known = await Known.load(session)
                if duplicate := known.duplicate(entry):
                    raise CommandError(duplicate)
                [org] = await store(session, [entry], action="org.add")
                assert org.id is not None
                new_id.append(org.id)
        except IntegrityError as exc:  # registered by someone else in the meantime
            raise CommandError(f"{entry.name} finns redan") from exc
        return 0

    code = run_with_database(settings, body)
    if code == 0:
        print(new_id[0])
    return code


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _lines(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def import_file(args: argparse.Namespace) -> int:
    settings = Settings()
    path = Path(args.file)
    try:
        sheet = read_sheet(path)
        columns, unknown = import_columns(sheet.header)
    except SheetError as exc:
        error(str(exc))
        return 2
    except Invalid as exc:
        for problem in exc.problems:
            error(f"{path.name}: {problem}")
        return 2
    for text in unknown:
        error(f"{path.name}: okänd kolumn {text!r} läses inte")

    outcome = ImportOutcome()

    async def body(db: Database) -> int:
        nonlocal outcome
        async with db.transaction() as session:
            outcome = await import_rows(
                session, columns, sheet.rows, default_language=settings.language, details={"file": path.name}
            )
        return 0

    code = run_with_database(settings, body)
    if code:
        return code
    refused, skipped, stored = outcome.refused, outcome.skipped, outcome.stored
    for line in sorted(refused):
        print(f"rad {line}: {refused[line]}", file=sys.stderr)
    for line in sorted(skipped):
        print(f"rad {line}: {skipped[line]}; hoppas över")
    print(f"Sparade {_plural(len(stored), 'organisation', 'organisationer')}.")
    if skipped:
        print(
            f"Hoppade över {_plural(len(skipped), 'rad', 'rader')} som redan finns: rad {_lines(sorted(skipped))}."
        )
    if refused:
        print(f"Vägrade {_plural(len(refused), 'rad', 'rader')} med fel: rad {_lines(sorted(refused))}.")
    return 1 if refused else 0
