"""The database layer: migrations equal the models, transactions, SQLite settings, schema checks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, text
from sqlmodel import SQLModel, select

from bot.db import migrate
from bot.db.database import Database
from bot.db.queries import Ambiguous, NotFound, find_cycle, find_organisation
from bot.db.tables import Cycle, Organisation
from tests.conftest_db import run_cli


def _diff(metadata: sa.MetaData) -> Callable[[sa.Connection], list[Any]]:
    """Alembic's autogenerate comparison of a database with ``metadata``: [] when they agree."""

    def compare(conn: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    return compare


async def test_migrated_schema_equals_models(db: Database) -> None:
    assert await db.schema_status() == (migrate.head(), migrate.head())
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff(SQLModel.metadata)) == []

    # The comparison is not blind: a column the database lacks shows up.
    changed = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["cycles"].append_column(sa.Column("extra", sa.Integer(), nullable=True))
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff(changed))
    assert [d[0] for d in diff] == ["add_column"]


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Organisation(name="Kvar", type="kommun"))
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            session.add(Organisation(name="Borta", type="kommun"))
            await session.flush()
            raise RuntimeError("stop")
    async with db.transaction(readonly=True) as session:
        names = (await session.exec(select(Organisation.name))).all()
    assert names == ["Kvar"]


async def test_foreign_keys_are_enforced(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    from bot.db.tables import Contact

    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            session.add(Contact(organisation_id=999, email="a@example.se"))


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "x.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
    finally:
        await db.dispose()
    assert values == ["wal", 1, 1, 5000]
    assert path.exists() and db.dialect == "sqlite"


async def test_queries_find_organisation_and_cycle(db: Database) -> None:
    async with db.transaction() as session:
        a = Organisation(name="Alby kommun", type="kommun", orgnr="2120000142")
        b = Organisation(name="Dubbel", type="myndighet")
        c = Organisation(name="Dubbel", type="region")
        session.add_all([a, b, c])
        for year in (2025, 2027):
            session.add(
                Cycle(
                    name=str(year),
                    launch=date(year, 3, 1),
                    deadline=date(year, 10, 31),
                    model_id="m",
                    model_version="1",
                )
            )
    async with db.transaction(readonly=True) as session:
        for ref in (str(a.id), "212000-0142", "2120000142", "Alby kommun", " Alby kommun "):
            assert (await find_organisation(session, ref)).id == a.id
        with pytest.raises(NotFound, match="ingen organisation"):
            await find_organisation(session, "Ingenstans")
        with pytest.raises(Ambiguous, match="flera"):
            await find_organisation(session, "Dubbel")
        assert (await find_cycle(session)).name == "2027"
        assert (await find_cycle(session, "2025")).name == "2025"
        with pytest.raises(NotFound):
            await find_cycle(session, "1999")
        assert (await session.exec(select(func.count()).select_from(Organisation))).one() == 3


def test_upgrade_reports_from_and_to(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert migrate.current(url) is None
    assert migrate.upgrade(url) == (None, migrate.head())
    assert migrate.upgrade(url) == (migrate.head(), migrate.head())


def test_db_commands(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cmd.db'}"
    before = run_cli(url, tmp_path, "db", "current")
    assert before.returncode == 1 and "assessbot db upgrade" in before.stdout
    up = run_cli(url, tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"(tom) → {migrate.head()}" in up.stdout
    after = run_cli(url, tmp_path, "db", "current")
    assert after.returncode == 0 and after.stdout.startswith(migrate.head())


def test_serve_refuses_a_database_without_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    result = run_cli(f"sqlite+aiosqlite:///{path}", tmp_path, "serve", "--port", "0")
    assert result.returncode == 1
    assert "assessbot db upgrade" in result.stderr
    assert "serving" not in result.stdout


def test_serve_refuses_an_unknown_revision(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    result = run_cli(url, tmp_path, "serve", "--port", "0")
    assert result.returncode == 1
    assert "ffff" in result.stderr and "inte känner till" in result.stderr


async def test_sqlite_writers_wait_for_each_other(tmp_path: Path) -> None:
    """A read-then-write transaction takes the write lock at BEGIN: none fails, no update is lost."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        async with db.transaction() as session:
            org = Organisation(name="Räknare", type="kommun", county="0")
            session.add(org)

        async def increment() -> None:
            async with db.transaction() as session:
                row = await session.get(Organisation, org.id)
                assert row is not None and row.county is not None
                await asyncio.sleep(0.01)  # let the others try to start meanwhile
                row.county = str(int(row.county) + 1)

        await asyncio.gather(*(increment() for _ in range(8)))
        async with db.transaction(readonly=True) as session:
            assert (await session.get(Organisation, org.id)).county == "8"  # type: ignore[union-attr]
    finally:
        await db.dispose()


async def test_sqlite_writers_of_one_process_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing transactions of one process wait on a lock of their own instead of SQLite's
    sleeping busy handler: they never overlap, readers do not wait, and a writer that
    waits longer than the busy timeout fails as SQLite would ("database is locked")."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/turns.db")
    try:
        await asyncio.to_thread(migrate.upgrade, db.url)
        inside: list[int] = []
        overlaps = 0

        async def write(n: int) -> None:
            nonlocal overlaps
            async with db.transaction() as session:
                overlaps += bool(inside)
                inside.append(n)
                session.add(Organisation(name=f"Kommun {n}", type="kommun"))
                await session.flush()
                await asyncio.sleep(0.02)
                inside.remove(n)

        await asyncio.gather(*(write(n) for n in range(12)))
        assert overlaps == 0
        async with db.transaction(readonly=True) as session:
            assert len((await session.exec(select(Organisation))).all()) == 12

        held = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with db.transaction():
                held.set()
                await release.wait()

        task = asyncio.create_task(holder())
        await held.wait()
        async with db.transaction(readonly=True) as session:  # a reader does not wait
            assert len((await session.exec(select(Organisation))).all()) == 12
        monkeypatch.setattr("bot.db.database.SQLITE_BUSY_TIMEOUT_MS", 200)
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            async with db.transaction():
                pass
        release.set()
        await task
        async with db.connection() as conn:  # free again
            await conn.execute(text("UPDATE organisations SET type = 'kommun'"))
    finally:
        await db.dispose()
