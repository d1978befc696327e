"""Writing transactions of one process on SQLite: they take turns, and blocks share commits.

SQLite has one writer at a time. Within one process, writing transactions take turns on an
asyncio lock before they ask SQLite for its write lock (:meth:`Writers.turn`): SQLite's busy
handler waits by sleeping in steps of up to 100 ms, so a few concurrent writers (the LMTP
listener with several deliveries, the web chat, the outbox sender) made each other wait
hundreds of milliseconds while the lock stood free. Another process still meets the busy
timeout as before.

``Database.connection()`` blocks (the core path's turns, the mail channel's intake) go one
step further and **share commits** (:meth:`Writers.block`): blocks that come while another
group of them holds the lock form the next group, which takes the lock once, runs its blocks
one after another in one SQLite transaction, each inside a savepoint of its own, and commits
them together. So the ``COMMIT``'s hand-over to the connection's thread, and the loop passes
before its waiter runs on, are paid once per group instead of once per block: under load,
writers no longer queue behind a lock that is held while the loop is busy elsewhere. A block
alone (no other writer waiting) is a group of one and costs what it did before, plus its
savepoint.

For the block, nothing changes: its statements are atomic, it sees what it wrote, and when
the ``async with`` ends without an exception its work is committed (with its group's), or the
block gets the error that the commit met; when it raises, its savepoint is rolled back and
the other blocks of the group go on unharmed. A group takes at most :data:`GROUP_LIMIT`
blocks; a block that comes later begins the next group.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db import sqlite_driver

GROUP_LIMIT = 16  # blocks that share one COMMIT at most
_SAVEPOINT = "assessbot_block"
_PASSING: Any = object()  # a group's connection on its way to the next block


def _consume(future: asyncio.Future[Any]) -> None:
    """A done callback: a group's outcome nobody awaited is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


class _Group:
    """Blocks that share one SQLite transaction and its COMMIT."""

    __slots__ = (
        "blocks",
        "broken",
        "closing",
        "conn",
        "done",
        "joined",
        "raw",
        "ready",
        "running",
        "waiting",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.conn: AsyncConnection | None = None
        self.raw: sqlite3.Connection | None = None  # savepoints go to SQLite directly, in line
        self.joined = 0  # blocks that joined (GROUP_LIMIT)
        self.blocks = 0  # blocks that joined and have not finished
        self.running: asyncio.Task[Any] | None = None  # the block that has the connection now
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closing = False  # takes no more blocks: committing, or about to
        self.broken = False  # a savepoint could not be rolled back: nothing may be committed
        self.ready: asyncio.Future[None] = loop.create_future()  # the transaction has begun
        self.done: asyncio.Future[None] = loop.create_future()  # committed (or the error)
        self.ready.add_done_callback(_consume)
        self.done.add_done_callback(_consume)


class _LoopWriters:
    """The writers of one event loop."""

    __slots__ = ("forming", "groups", "lock", "owner", "running")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # SQLite's write lock, as far as this process goes
        self.owner: asyncio.Task[Any] | None = None  # holder of an exclusive turn
        self.forming: _Group | None = None  # the newest group that still takes blocks
        self.running: asyncio.Task[Any] | None = None  # the block whose statements run now
        self.groups: set[asyncio.Task[None]] = set()  # openers and committers under way


class Writers:
    """Writing transactions of this process (SQLite only; see the module docstring). One
    lock per event loop; a wait longer than the busy timeout fails as SQLite's own would
    ("database is locked")."""

    def __init__(self, busy_timeout_ms: Callable[[], int]) -> None:
        self._busy_timeout_ms = busy_timeout_ms
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWriters] = (
            weakref.WeakKeyDictionary()
        )

    def _here(self) -> _LoopWriters:
        loop = asyncio.get_running_loop()
        writers = self._loops.get(loop)
        if writers is None:
            writers = self._loops[loop] = _LoopWriters()
        return writers

    async def _acquire(self, writers: _LoopWriters) -> None:
        try:
            async with asyncio.timeout(self._busy_timeout_ms() / 1000):
                await writers.lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked (by this process)")
            ) from None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """An exclusive turn: no other writing transaction of this process runs meanwhile.
        Re-entrant within a task."""
        writers = self._here()
        task = asyncio.current_task()
        if task is not None and task is writers.owner:
            yield  # a nested writing transaction of the same task
            return
        await self._acquire(writers)
        writers.owner = task
        try:
            yield
        finally:
            writers.owner = None
            writers.lock.release()

    @asynccontextmanager
    async def block(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """A writing block on a connection in a transaction it may share with other blocks
        (see the module docstring)."""
        writers = self._here()
        task = asyncio.current_task()
        if task is not None and (task is writers.owner or task is writers.running):
            async with engine.begin() as conn:  # nested in this task's own writing transaction
                yield conn
            return
        group = writers.forming
        if group is None and not writers.lock.locked():
            # alone: no other writer to share with, a transaction of its own as before
            await writers.lock.acquire()  # free: taken without waiting
            writers.running = task
            try:
                async with engine.begin() as conn:
                    yield conn
            finally:
                writers.running = None
                writers.lock.release()
            return
        if group is None or group.closing or group.joined >= GROUP_LIMIT:
            group = writers.forming = _Group(asyncio.get_running_loop())
            self._start(writers, self._open(writers, group, engine))
        group.joined += 1
        group.blocks += 1
        try:
            await asyncio.shield(group.ready)
            if group.running is not None:  # another block of the group has the connection
                turn = asyncio.get_running_loop().create_future()
                group.waiting.append(turn)
                try:
                    await turn
                except BaseException:
                    if turn.done() and not turn.cancelled():
                        group.running = None  # it was this block's turn: pass it on
                    else:
                        with contextlib.suppress(ValueError):  # unless passed over already
                            group.waiting.remove(turn)
                    raise
            group.running = writers.running = task
        except BaseException:
            self._leave(writers, group, held=False)
            raise
        raw, shared = group.raw, group.conn
        assert raw is not None and shared is not None
        try:
            raw.execute(f"SAVEPOINT {_SAVEPOINT}")
        except BaseException:
            self._leave(writers, group, held=True)
            raise
        try:
            yield shared
        except BaseException:
            try:
                raw.execute(f"ROLLBACK TO {_SAVEPOINT}")
                raw.execute(f"RELEASE {_SAVEPOINT}")
            except sqlite3.Error:
                group.broken = True  # e.g. the whole transaction was rolled back: commit nothing
            raise
        else:
            try:
                raw.execute(f"RELEASE {_SAVEPOINT}")
            except sqlite3.Error:
                group.broken = True
                raise
        finally:
            self._leave(writers, group, held=True)
        await asyncio.shield(group.done)  # the block's work is committed with its group's

    async def settle(self) -> None:
        """Wait for the groups of this loop that are beginning or committing."""
        writers = self._loops.get(asyncio.get_running_loop())
        while writers is not None and writers.groups:
            await asyncio.gather(*writers.groups, return_exceptions=True)

    def _start(self, writers: _LoopWriters, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        writers.groups.add(task)
        task.add_done_callback(writers.groups.discard)

    @staticmethod
    def _close(writers: _LoopWriters, group: _Group) -> None:
        """``group`` takes no more blocks; the next block that comes begins a new one."""
        group.closing = True
        if writers.forming is group:
            writers.forming = None

    def _leave(self, writers: _LoopWriters, group: _Group, *, held: bool) -> None:
        """A block of ``group`` is done: with the connection when it ``held`` it."""
        if held:
            group.running = writers.running = None
        group.blocks -= 1
        self._pass_on(writers, group)

    def _pass_on(self, writers: _LoopWriters, group: _Group) -> None:
        """The connection goes to the group's next waiting block; with none left, the group
        commits."""
        if group.running is not None or not group.ready.done() or group.ready.exception() is not None:
            return
        while group.waiting:
            turn = group.waiting.popleft()
            if not turn.done():
                group.running = _PASSING  # held until the woken block takes it
                turn.set_result(None)
                return
        if group.blocks == 0 and not group.closing:
            self._close(writers, group)
            self._start(writers, self._commit(writers, group))

    async def _open(self, writers: _LoopWriters, group: _Group, engine: AsyncEngine) -> None:
        """Take the lock for ``group`` and begin its transaction."""
        try:
            await self._acquire(writers)
        except BaseException as error:
            self._close(writers, group)
            group.ready.set_exception(error)
            return
        try:
            conn = await engine.connect()
            try:
                await conn.begin()
                await conn.exec_driver_sql("SELECT 1")  # sends the BEGIN IMMEDIATE: the write lock
                group.raw = sqlite_driver.raw_connection(await conn.get_raw_connection())
            except BaseException:
                await conn.close()
                raise
        except BaseException as error:
            self._close(writers, group)
            writers.lock.release()
            group.ready.set_exception(error)
            return
        group.conn = conn
        group.ready.set_result(None)
        self._pass_on(writers, group)  # every block may have left already

    async def _commit(self, writers: _LoopWriters, group: _Group) -> None:
        conn = group.conn
        assert conn is not None
        try:
            if group.broken:
                raise OperationalError("COMMIT", None, sqlite3.OperationalError("the transaction was lost"))
            await conn.commit()
        except Exception as error:
            with contextlib.suppress(Exception):
                await conn.rollback()
            group.done.set_exception(error)
        else:
            group.done.set_result(None)
        finally:
            if not group.done.done():  # cancelled (the loop is closing): the blocks are told
                group.done.set_exception(
                    OperationalError("COMMIT", None, sqlite3.OperationalError("the commit was interrupted"))
                )
            try:
                await conn.close()
            finally:
                writers.lock.release()
