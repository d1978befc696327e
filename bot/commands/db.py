"""``assessbot db upgrade`` and ``assessbot db current``: the schema of the database.

``upgrade`` applies the migrations the database lacks and prints ``from → to``;
``current`` prints the revision the database is at and exits 1 when it is not the newest.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import DBAPIError

from bot.commands.common import error, shown_url
from bot.db import migrate
from bot.settings import Settings


def upgrade(args: argparse.Namespace) -> int:
    url = Settings().database_url
    try:
        before, after = migrate.upgrade(url)
    except (OSError, DBAPIError) as exc:
        error(f"kan inte uppgradera databasen {shown_url(url)}: {exc}")
        return 1
    if before == after:
        print(f"databasen är redan aktuell: {after}")
    else:
        print(f"databasen uppgraderad: {before or '(tom)'} → {after}")
    return 0


def current(args: argparse.Namespace) -> int:
    url = Settings().database_url
    try:
        revision = migrate.current(url)
    except (OSError, DBAPIError) as exc:
        error(f"kan inte öppna databasen {shown_url(url)}: {exc}")
        return 1
    head = migrate.head()
    if revision == head:
        print(f"{revision} (aktuell)")
        return 0
    print(f"{revision or '(tom)'} (senaste är {head}: kör `assessbot db upgrade`)")
    return 1
