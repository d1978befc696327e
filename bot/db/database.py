"""The database: one async engine and the transactions everything else runs in.

``Database(url)`` takes an SQLAlchemy URL, ``sqlite+aiosqlite:///PATH`` (the embedded
default) or ``postgresql+asyncpg://USER@HOST/DB``. All work happens inside
``async with db.transaction() as session:``, which commits when the block ends and rolls
back when it raises.

SQLite needs care to behave like a server database. Every connection gets WAL
journalling (readers never block the writer), ``synchronous=NORMAL``, enforced foreign
keys and a busy timeout. The sqlite3 driver's own transaction handling is switched off and
the engine emits ``BEGIN`` itself: ``BEGIN IMMEDIATE`` for a writing transaction, so that a
transaction that reads and then writes waits for the lock at its start (up to the busy
timeout) instead of failing half-way with "database is locked"; a ``readonly``
transaction uses a plain deferred ``BEGIN``. On PostgreSQL a readonly transaction is
``READ ONLY``.

Within one process, writing transactions on SQLite also take turns on an asyncio lock
before they ask SQLite for its write lock, and the blocks of :meth:`Database.connection`
that wait meanwhile share one transaction and its commit (``bot/db/writers.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import sqlite_driver
from bot.db.writers import Writers

SQLITE_BUSY_TIMEOUT_MS = 5000
_READONLY = "assessbot_readonly"


def _sqlite_file(u: URL) -> Path | None:
    name = u.database or ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let the engine, not the driver, decide when a transaction begins (see _on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    readonly = conn.get_execution_options().get(_READONLY, False)
    sqlite_driver.begin(conn, "BEGIN" if readonly else "BEGIN IMMEDIATE")


class Database:
    """An async engine with sessions; see the module docstring."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        u = make_url(url)
        sqlite = u.get_backend_name() == "sqlite"
        if sqlite and (path := _sqlite_file(u)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # aiosqlite through bot/db/sqlite_driver.py: one thread hand-over per statement
        self.engine: AsyncEngine = create_async_engine(
            sqlite_driver.async_url(u), echo=echo, pool_pre_ping=not sqlite
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _on_sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _on_sqlite_begin)
        self._readonly_engine = self.engine.execution_options(
            **({_READONLY: True} if self.dialect == "sqlite" else {"postgresql_readonly": True})
        )
        self._writer = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._writers = Writers(lambda: SQLITE_BUSY_TIMEOUT_MS) if self.dialect == "sqlite" else None
        self._reader = async_sessionmaker(self._readonly_engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on an exception."""
        sessions = self._reader if readonly else self._writer
        async with self._turn(readonly), sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self, *, readonly: bool = False) -> AsyncIterator[AsyncConnection]:
        """Like :meth:`transaction`, for SQL expressions only: a connection without an ORM session.

        On SQLite, a writing block may share its transaction and commit with other writing
        blocks of this process (``bot/db/writers.py``): its work is committed when the block
        ends, or it gets the error the commit met."""
        if not readonly and self._writers is not None:
            async with self._writers.block(self.engine) as conn:
                yield conn
            return
        async with (self._readonly_engine if readonly else self.engine).begin() as conn:
            yield conn

    def _turn(self, readonly: bool) -> AbstractAsyncContextManager[None]:
        if readonly or self._writers is None:
            return nullcontext()
        return self._writers.turn()

    async def schema_status(self) -> tuple[str | None, str]:
        """(revision the database is at or None when it has none, head revision of the code)."""
        from alembic.runtime.migration import MigrationContext

        from bot.db.migrate import head

        async with self._readonly_engine.connect() as conn:
            current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        return current, head()

    async def dispose(self) -> None:
        if self._writers is not None:
            await self._writers.settle()  # a group's commit under way ends first
        await self.engine.dispose()
