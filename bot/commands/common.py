"""Plumbing shared by the commands that use the database.

:func:`run_with_database` opens the database named by the settings, refuses to go on when
its schema is missing or out of date (the message names ``assessbot db upgrade``), runs
the command's async body and closes the database again. A body raises :class:`CommandError`
to stop with a message and an exit code. Messages to the user are in Swedish and go to
stderr as ``assessbot: …``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.db.database import Database
from bot.settings import Settings


class CommandError(Exception):
    """Stop the command: ``message`` is shown, ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def error(message: str) -> None:
    print(f"assessbot: {message}", file=sys.stderr)


def shown_url(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show it as given
        return url


async def schema_problem(db: Database) -> str | None:
    """Why the database cannot be used as it is (no schema, old schema, unreachable), or None."""
    from bot.db.migrate import is_known

    try:
        current, head = await db.schema_status()
    except (OSError, DBAPIError) as exc:
        return f"kan inte öppna databasen {shown_url(db.url)}: {exc}"
    if current == head:
        return None
    if current is None:
        return f"databasen {shown_url(db.url)} saknar schema: kör `assessbot db upgrade` först"
    if not is_known(current):
        return (
            f"databasen {shown_url(db.url)} har schemaversion {current}, som denna version av "
            "assessbot inte känner till: uppdatera assessbot"
        )
    return (
        f"databasens schema är inaktuellt (version {current}, programmet behöver {head}): "
        "kör `assessbot db upgrade`"
    )


def check_schema(settings: Settings) -> str | None:
    """:func:`schema_problem` for the configured database, from synchronous code."""

    async def check() -> str | None:
        db = Database(settings.database_url)
        try:
            return await schema_problem(db)
        finally:
            await db.dispose()

    return asyncio.run(check())


def run_with_database(settings: Settings, body: Callable[[Database], Awaitable[int]]) -> int:
    """Run ``body(db)`` on the configured database; returns the exit code."""

    async def main() -> int:
        db = Database(settings.database_url)
        try:
            if problem := await schema_problem(db):
                raise CommandError(problem)
            return await body(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except CommandError as exc:
        error(exc.message)
        return exc.code
