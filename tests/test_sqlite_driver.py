"""The SQLite driver (bot/db/sqlite_driver.py): one thread hand-over per statement, same results."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from bot.db import migrate
from bot.db.database import Database
from bot.db.sqlite_driver import DRIVER
from bot.db.tables import Contact, Organisation


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    """A migrated database file (sync: migrating runs its own event loop)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
async def sqlite_db(migrated: str) -> Any:
    db = Database(migrated)
    yield db
    await db.dispose()


@pytest.fixture
def handovers(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every call aiosqlite hands to a connection's thread, by the function's name."""
    counted: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", "?")] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return counted


async def test_aiosqlite_urls_use_the_driver(sqlite_db: Database) -> None:
    assert sqlite_db.engine.dialect.driver == DRIVER
    assert sqlite_db.dialect == "sqlite"


async def test_one_handover_per_statement(sqlite_db: Database, handovers: Counter[str]) -> None:
    async with sqlite_db.transaction() as session:  # warm: the pool opens its connection
        session.add(Organisation(name="A", type="kommun"))
    handovers.clear()
    async with sqlite_db.connection() as conn:
        rows = (await conn.execute(sa.text("SELECT name FROM organisations"))).all()
        await conn.execute(sa.text("UPDATE organisations SET county = 'X'"))
    assert rows == [("A",)]
    # BEGIN IMMEDIATE with the SELECT (and its rows), the UPDATE, then COMMIT: no cursor
    # opening or closing of its own, no rollback when the pool takes the connection back
    assert handovers == Counter({"_run": 2, "commit": 1})
    handovers.clear()
    async with sqlite_db.connection(readonly=True):
        pass  # a transaction that executes nothing costs nothing
    assert handovers == Counter()


async def test_results_rowcounts_and_ids(sqlite_db: Database) -> None:
    async with sqlite_db.transaction() as session:
        org = Organisation(name="B", type="region")
        session.add(org)
        await session.flush()
        assert org.id is not None  # lastrowid / RETURNING
        session.add_all([Contact(organisation_id=org.id, email=f"p{i}@b.se") for i in range(3)])
    async with sqlite_db.connection() as conn:
        updated = await conn.execute(sa.text("UPDATE contacts SET active = 0 WHERE email != 'p0@b.se'"))
        assert updated.rowcount == 2
        many = await conn.execute(
            sa.text("UPDATE contacts SET name = :n WHERE email = :e"),
            [{"n": "Noll", "e": "p0@b.se"}, {"n": "Ett", "e": "p1@b.se"}],
        )
        assert many.rowcount == 2
    async with sqlite_db.transaction(readonly=True) as session:
        contacts = (await session.exec(select(Contact).order_by(Contact.email))).all()
    assert [(c.name, c.active) for c in contacts] == [("Noll", True), ("Ett", False), ("", False)]


async def test_errors_and_rollback(sqlite_db: Database, handovers: Counter[str]) -> None:
    with pytest.raises(IntegrityError):
        async with sqlite_db.transaction() as session:
            session.add(Organisation(name="C", type="kommun"))
            await session.flush()
            session.add(Contact(organisation_id=12345, email="x@c.se"))  # no such organisation
    assert handovers["rollback"] == 1  # the open transaction was rolled back
    with pytest.raises(OperationalError):
        async with sqlite_db.connection() as conn:
            await conn.execute(sa.text("SELECT * FROM no_such_table"))
    async with sqlite_db.transaction(readonly=True) as session:
        assert (await session.exec(select(Organisation))).all() == []  # nothing of it stayed
