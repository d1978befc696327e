"""Database fixtures: ``db`` runs a test on SQLite and on PostgreSQL, both migrated to head.

PostgreSQL is the server at ``ASSESSBOT_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``, the one CI starts). For the test session a
fresh database ``assessbot_test_<random>`` is created there, migrated, and dropped at the
end. When the server cannot be reached the PostgreSQL half of the tests fails: it is not
skipped, because CI guarantees the server. Deselect it on a machine without PostgreSQL
with ``-m "not postgresql"``.

``migrated`` (a migrated SQLite file of the test's own), ``sqlite_db`` (a Database on it)
and ``handovers`` (the calls aiosqlite hands to a connection's thread, counted by name) serve
the tests of the SQLite driver and of its writers.

Every test starts with empty tables. ``cli`` runs the real ``assessbot`` command in a
subprocess against the test's database, in a scratch working directory, with no other
``ASSESSBOT_`` variables.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import bot.db.tables  # noqa: F401  (registers the tables)
from bot.db import migrate
from bot.db.database import Database

PG_ADMIN = os.environ.get("ASSESSBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against the PostgreSQL server (see tests/conftest_db.py)"
    )


def _async_url(dsn: str, database: str) -> str:
    head, _, _ = dsn.rpartition("/")
    return head.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + database


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({exc}); CI must provide it", pytrace=False)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    name = f"assessbot_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _async_url(PG_ADMIN, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'assessbot.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    """A migrated SQLite database file of the test's own (sync: migrating runs its own event loop)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
async def sqlite_db(migrated: str) -> AsyncIterator[Database]:
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


async def empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated test database (sync: migrating runs its own event loop)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await empty_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


def run_cli(url: str, cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSESSBOT_")}
    env["ASSESSBOT_DATABASE_URL"] = url
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def cli(db: Database, tmp_path: Path) -> Cli:
    """``cli("org", "add", …)`` runs ``python -m bot org add …`` on the test's database."""

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(db.url, tmp_path, *args, stdin=stdin)

    return run
