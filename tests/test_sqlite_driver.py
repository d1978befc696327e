"""The SQLite driver (bot/db/sqlite_driver.py): few thread hand-overs, same results."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from bot.db import sqlite_driver
from bot.db.database import SQLITE_BUSY_TIMEOUT_MS, Database
from bot.db.sqlite_driver import DRIVER
from bot.db.tables import Contact, Organisation


async def test_aiosqlite_urls_use_the_driver(sqlite_db: Database) -> None:
    assert sqlite_db.engine.dialect.driver == DRIVER
    assert sqlite_db.dialect == "sqlite"


async def test_handovers_of_reading_and_writing_transactions(
    sqlite_db: Database, handovers: Counter[str]
) -> None:
    async with sqlite_db.transaction() as session:  # warm: the pool opens its connection
        session.add(Organisation(name="A", type="kommun"))
    handovers.clear()
    async with sqlite_db.connection() as conn:
        rows = (await conn.execute(sa.text("SELECT name FROM organisations"))).all()
        await conn.execute(sa.text("UPDATE organisations SET county = 'X'"))
        await conn.execute(sa.text("UPDATE organisations SET county = 'Y'"))
    assert rows == [("A",)]
    # the write lock was free: BEGIN IMMEDIATE, the SELECT (and its rows) and the UPDATEs in
    # line, then COMMIT in the thread: no cursor opening or closing of its own, no rollback
    # when the pool takes the connection back
    assert handovers == Counter({"commit": 1})
    handovers.clear()
    async with sqlite_db.connection(readonly=True) as conn:
        for _ in range(3):
            assert (await conn.execute(sa.text("SELECT county FROM organisations"))).all() == [("Y",)]
    assert handovers == Counter({"_run": 3, "commit": 1})  # a reading transaction stays in the thread
    handovers.clear()
    async with sqlite_db.connection(readonly=True):
        pass  # a transaction that executes nothing costs nothing
    assert handovers == Counter()


async def test_only_a_writing_transaction_that_holds_the_lock_runs_in_line(sqlite_db: Database) -> None:
    """Which thread runs each statement, asked of SQLite itself."""
    async with sqlite_db.connection() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw._execute(raw._conn.create_function, "thread", 0, threading.get_ident)
    loop_thread = threading.get_ident()

    async def threads(readonly: bool) -> list[int]:
        async with sqlite_db.connection(readonly=readonly) as conn:
            return [(await conn.execute(sa.text("SELECT thread()"))).scalar_one() for _ in range(3)]

    writing, reading = await threads(False), await threads(True)
    assert writing == [loop_thread] * 3  # the lock was free
    assert loop_thread not in reading
    # another connection holds the lock: the first statement waits for it in the thread
    path = sqlite_db.url.partition(":///")[2]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    try:
        writing = await threads(False)
    finally:
        other.close()
    assert writing[0] != loop_thread and writing[1:] == [loop_thread, loop_thread]
    async with sqlite_db.connection() as conn:  # the connection's busy timeout is as it was
        assert (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar_one() == SQLITE_BUSY_TIMEOUT_MS


@pytest.mark.parametrize("inline_slice", [0.0, 60.0])
async def test_a_long_writing_transaction_gives_the_loop_turns(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, inline_slice: float
) -> None:
    monkeypatch.setattr(sqlite_driver, "INLINE_SLICE", inline_slice)
    ticks: list[int] = []
    seen: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        async with sqlite_db.connection() as conn:
            await conn.execute(sa.text("SELECT 1"))  # takes the lock
            before = len(ticks)
            for i in range(20):
                await conn.execute(sa.text("UPDATE organisations SET county = :c"), {"c": str(i)})
            seen.append(len(ticks) - before)
    finally:
        task.cancel()
    if inline_slice:
        assert seen == [0]  # all in line, in one go
    else:
        assert seen[0] >= 20  # a turn for the loop before every statement


async def test_a_writer_of_another_process_is_waited_for_without_stalling_the_loop(
    sqlite_db: Database, migrated: str
) -> None:
    async with sqlite_db.transaction() as session:
        session.add(Organisation(name="A", type="kommun"))
    path = migrated.partition(":///")[2]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writing transaction
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("UPDATE organisations SET county = 'other'")
        other.execute("COMMIT")

    task = asyncio.create_task(ticker())
    releaser = asyncio.create_task(release())
    try:
        async with sqlite_db.connection() as conn:
            county = (await conn.execute(sa.text("SELECT county FROM organisations"))).scalar_one()
            await conn.execute(sa.text("UPDATE organisations SET county = 'mine'"))
    finally:
        task.cancel()
        await releaser
        other.close()
    assert county == "other"  # the transaction began after the other one committed
    assert ticks >= 20  # the loop ran on while the lock was waited for


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
