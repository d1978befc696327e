"""SQLAlchemy's aiosqlite dialect with few thread hops: one per reading statement, one per write.

aiosqlite runs each SQLite connection in its own thread and hands every call over a queue;
each hand-over wakes that thread and then the event loop again (tens of microseconds of
CPU and a scheduler round trip). SQLAlchemy's adapter makes four such calls per statement
(open a cursor, execute, fetch the rows, close the cursor), and a rollback when the pool
takes a connection back even when no transaction is open: a stored turn made about a
hundred of them.

This dialect keeps aiosqlite and its thread but runs a statement, its fetch and the cursor's
close as one call in that thread (``aiosqlite.Connection._execute``, the queue every
aiosqlite method uses); sends a transaction's ``BEGIN`` (``bot/db/database.py`` emits it)
together with the transaction's first statement; and skips the rollback of a connection
that is not inside a transaction. A lock that ``BEGIN IMMEDIATE`` waits for is therefore
met at the first statement, inside the same transaction, with the same error.

A writing transaction first tries its ``BEGIN IMMEDIATE`` in the event loop's own thread,
with the busy timeout at zero for that one statement: when SQLite's write lock is free
(always, unless another process writes: this process's writers take turns,
``bot/db/database.py``), the lock is taken at once and nothing is handed over. When another
connection holds it, the ``BEGIN`` goes with the first statement to the connection's thread
and waits there, with the connection's busy timeout, while the loop runs on; the same error
comes when the wait is too long. Once the lock is held, every statement of the transaction
runs in the loop's thread: in WAL mode nothing can make them wait for a lock any more, and
a short statement costs less than a hand-over (a stored chat turn makes one hop, its
``COMMIT``, and no longer queues behind other tasks between its statements). Still through
the thread: every statement of a reading transaction (a long report must not stall the
loop) and ``COMMIT`` (the WAL checkpoint that can follow it writes and syncs the database
file). A writing transaction that runs in line for more than :data:`INLINE_SLICE` seconds
gives the loop a turn before its next statement. The sqlite3 connection is opened with
``check_same_thread=False``; one connection is never used by two threads at once (the pool
lends it to one transaction, whose statements run one after the other).

Everything else is SQLAlchemy's aiosqlite dialect. :func:`async_url` turns a
``sqlite+aiosqlite://`` URL into one that names this dialect; other URLs are unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.util.concurrency import await_

DRIVER = "assessbot_aiosqlite"


_BEGIN = frozenset({"BEGIN", "BEGIN IMMEDIATE", "BEGIN DEFERRED", "BEGIN EXCLUSIVE"})
_WRITING = frozenset({"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"})  # hold the write lock once sent
INLINE_SLICE = 0.005  # seconds a transaction runs statements in line before the loop gets a turn


def _run(
    raw: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any] | None, int, int | None]:
    """In the connection's thread: the transaction's ``begin`` (when it is still to be
    sent), the statement, its rows (if it returns rows), closed."""
    cursor = raw.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _in_line(adapt: _Connection, operation: Any, parameters: Any, many: bool) -> Any:
    """A statement run in the loop's thread; a coroutine (that suspends only to give the loop
    a turn) because SQLAlchemy's async layer requires every statement to await."""
    if time.perf_counter() - (adapt._inline_since or 0.0) > INLINE_SLICE:
        await asyncio.sleep(0)
        adapt._inline_since = time.perf_counter()
    return _run(adapt._connection._conn, None, operation, parameters, many)


def _begin_in_line(adapt: _Connection, begin: str) -> bool:
    """Try ``begin`` (a writing ``BEGIN``) in the loop's thread without waiting: True when
    SQLite's write lock was free and is now held; False, nothing begun, when another
    connection holds it (the caller then waits for it in the connection's thread, with the
    connection's busy timeout, which is set back either way)."""
    raw = adapt._connection._conn
    if adapt._busy_timeout is None:
        adapt._busy_timeout = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        raw.execute(begin)
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return False
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout = {adapt._busy_timeout}")
    return True


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose execute is one call in the connection's thread, or in the
    loop's own thread inside a writing transaction that holds the lock."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # no aiosqlite cursor is opened here (that would be a hand-over of its own)
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid or 0

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def _call(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = cast(_Connection, self._adapt_connection)
        if not many and parameters in (None, ()) and operation in _BEGIN:
            adapt._pending_begin = operation  # sent with the transaction's first statement
            self._description, self._rowcount, self._lastrowid = None, -1, None
            self._rows = collections.deque()
            return
        begin, adapt._pending_begin = adapt._pending_begin, None
        conn = self._connection
        try:
            if adapt._inline_since is None and begin in _WRITING and _begin_in_line(adapt, begin):
                adapt._inline_since = time.perf_counter()  # the lock was free: no hop at all
            if adapt._inline_since is not None:  # a writing transaction that holds the lock
                result = await_(_in_line(adapt, operation, parameters, many))
            else:
                result = await_(conn._execute(_run, conn._conn, begin, operation, parameters, many))
                if begin in _WRITING:
                    adapt._inline_since = time.perf_counter()
            self._description, rows, self._rowcount, self._lastrowid = result
        except Exception as error:
            adapt._handle_exception(error)
        self._rows = collections.deque(rows) if rows else collections.deque()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._call(operation, parameters, False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._call(operation, seq_of_parameters, True)

    def nextset(self) -> None:
        return None


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_busy_timeout", "_inline_since", "_pending_begin")

    _cursor_cls = _Cursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None  # a BEGIN not sent yet
        self._inline_since: float | None = None  # holding the write lock: statements run in line
        self._busy_timeout: int | None = None  # the connection's, in ms (read once)

    def commit(self) -> None:
        self._inline_since = None
        if self._pending_begin is not None:  # nothing was executed: nothing to commit
            self._pending_begin = None
            return
        super().commit()

    def rollback(self) -> None:
        self._pending_begin = None
        self._inline_since = None
        raw = self._connection._connection
        # nothing to roll back (e.g. the pool's reset of a committed connection): no hand-over
        if raw is not None and not raw.in_transaction:
            return
        super().rollback()


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        kw["check_same_thread"] = False  # statements of writing transactions run in the loop's thread
        connection = super().connect(*arg, **kw)
        return _Connection(self, connection._connection)


class Dialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True
    supports_server_side_cursors = False  # every cursor is buffered

    @classmethod
    def import_dbapi(cls) -> _DBAPI:
        return _DBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "Dialect")


def begin(conn: Connection, statement: str) -> None:
    """Begin a transaction with ``statement`` (a ``BEGIN …``) on an engine connection: with
    this driver, noted to be sent with the first statement, without a trip through the
    engine's execution; with any other, executed."""
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection._pending_begin = statement
    else:
        conn.exec_driver_sql(statement)


def raw_connection(fairy: Any) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled connection of this driver
    (``await AsyncConnection.get_raw_connection()``)."""
    dbapi_connection = fairy.dbapi_connection
    assert isinstance(dbapi_connection, _Connection)
    return cast(sqlite3.Connection, dbapi_connection._connection._conn)


def async_url(url: URL) -> URL:
    """``url`` with this dialect in place of aiosqlite; any other URL as it is."""
    if url.drivername == "sqlite+aiosqlite":
        return url.set(drivername=f"sqlite+{DRIVER}")
    return url
