"""Writing blocks on SQLite share handovers when they wait (bot/db/writers.py), and each keeps
the meaning of a transaction of its own: its work is committed when it ends, rolled back when
it raises, and an error of the shared commit reaches every block of the group."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.db import writers
from bot.db.database import Database
from bot.db.tables import AnswerRevision, Organisation, Response, table_of
from bot.turn import ResponseNotFound, handle_turn, load_state
from conversations.questionnaire import Model
from conversations.state import Turn
from tests.seed import actor, seed


async def _names(db: Database) -> list[str]:
    async with db.connection(readonly=True) as conn:
        return list((await conn.execute(sa.text("SELECT name FROM organisations ORDER BY name"))).scalars())


async def _insert(conn: Any, name: str) -> None:
    await conn.execute(sa.insert(table_of(Organisation)), {"name": name, "type": "kommun"})


class _Held:
    """An exclusive writing transaction that holds the lock until released: the blocks that
    come meanwhile wait, and so form one group."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.inside = asyncio.Event()
        self.release = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _hold(self) -> None:
        async with self.db.transaction():
            self.inside.set()
            await self.release.wait()

    async def __aenter__(self) -> _Held:
        self.task = asyncio.create_task(self._hold())
        await self.inside.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self.task is not None
        await self.task


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])
async def test_blocks_that_wait_share_one_commit_and_run_one_after_another(
    sqlite_db: Database, handovers: Counter[str]
) -> None:
    inside: list[str] = []
    overlaps = 0
    seen: dict[str, list[str]] = {}

    async def block(name: str) -> None:
        nonlocal overlaps
        async with sqlite_db.connection() as conn:
            overlaps += bool(inside)
            inside.append(name)
            await _insert(conn, name)
            await asyncio.sleep(0)  # a block that suspends keeps the connection to itself
            names = await conn.execute(sa.text("SELECT name FROM organisations ORDER BY name"))
            seen[name] = list(names.scalars())
            inside.remove(name)

    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(5)]
        await _settle()
        assert not seen  # waiting for the lock
        handovers.clear()
    await asyncio.gather(*tasks)
    assert overlaps == 0
    assert handovers["commit"] == 1  # five blocks, one COMMIT
    assert await _names(sqlite_db) == [f"K{n}" for n in range(5)]
    # each block saw its own row and those of the blocks before it in the group
    assert sorted(len(v) for v in seen.values()) == [1, 2, 3, 4, 5]
    assert all(name in names for name, names in seen.items())
    # alone again: a block is a transaction of its own
    handovers.clear()
    async with sqlite_db.connection() as conn:
        await _insert(conn, "L")
    assert handovers["commit"] == 1 and "L" in await _names(sqlite_db)


async def test_a_block_that_raises_loses_only_its_own_work(sqlite_db: Database) -> None:
    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)
            if name == "K1":
                raise ValueError("no")

    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(3)]
        await _settle()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)
    assert await _names(sqlite_db) == ["K0", "K2"]


@pytest.mark.parametrize("then_raises", [False, True])
async def test_a_block_that_breaks_the_shared_transaction_fails_every_block_of_its_group(
    sqlite_db: Database, then_raises: bool
) -> None:
    """A block that rolls back the whole transaction (not only its own work) takes the work of
    the blocks before it with it: they are told so, nothing is committed in silence."""

    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)
            if name == "K1":
                await conn.rollback()
                if then_raises:
                    raise ValueError("and then it failed")

    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(2)]
        await _settle()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results), results
    assert await _names(sqlite_db) == []
    async with sqlite_db.connection() as conn:  # the lock is free again
        await _insert(conn, "L")
    assert await _names(sqlite_db) == ["L"]


async def test_an_error_of_the_shared_commit_reaches_every_block(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = aiosqlite.Connection.commit
    failing = [True]

    async def commit(self: aiosqlite.Connection) -> None:
        if failing[0]:
            failing[0] = False
            raise aiosqlite.OperationalError("disk I/O error")
        await original(self)

    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)

    async with _Held(sqlite_db):
        monkeypatch.setattr(aiosqlite.Connection, "commit", commit)
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(3)]
        await _settle()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, OperationalError) and "disk I/O" in str(r) for r in results), results
    assert await _names(sqlite_db) == []
    await block("L")  # the next group handovers
    assert await _names(sqlite_db) == ["L"]


async def test_a_group_takes_at_most_its_limit(
    sqlite_db: Database, handovers: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "GROUP_LIMIT", 2)

    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)

    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(5)]
        await _settle()
        handovers.clear()
    await asyncio.gather(*tasks)
    assert handovers["commit"] == 3  # 2 + 2 + 1
    assert await _names(sqlite_db) == [f"K{n}" for n in range(5)]


async def test_a_block_cancelled_while_it_waits_leaves_the_others_alone(sqlite_db: Database) -> None:
    started = asyncio.Event()

    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)
            if name == "K0":
                started.set()
                await asyncio.sleep(0.05)  # K1 and K2 wait for their turn meanwhile

    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"K{n}")) for n in range(3)]
        await _settle()
    await started.wait()
    await _settle()
    tasks[1].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert await _names(sqlite_db) == ["K0", "K2"]
    # cancelled while waiting for the lock: the group goes on without it
    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(block(f"M{n}")) for n in range(2)]
        await _settle()
        tasks[0].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError) and results[1] is None
    assert await _names(sqlite_db) == ["K0", "K2", "M1"]


async def test_a_group_that_cannot_get_the_lock_fails_as_sqlite_would(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.db.database.SQLITE_BUSY_TIMEOUT_MS", 100)

    async def block(name: str) -> None:
        async with sqlite_db.connection() as conn:
            await _insert(conn, name)

    async with _Held(sqlite_db):
        results = await asyncio.gather(*(block(f"K{n}") for n in range(2)), return_exceptions=True)
    assert all(isinstance(r, OperationalError) and "locked" in str(r) for r in results), results
    await block("L")
    assert await _names(sqlite_db) == ["L"]


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])
async def test_turns_that_wait_are_stored_together_each_as_if_alone(
    sqlite_db: Database, model: Model, handovers: Counter[str]
) -> None:
    """The core path's turns in one group: two organisations' responses, turns on the same
    response one after another in the shared transaction (each sees the one before, no
    conflict, no retry), a turn that fails on its own; every stored turn has its version,
    answer and revision, and the next turn reads them as committed."""
    one = await seed(sqlite_db, model)
    two = await seed(sqlite_db, model, name="Annanby kommun", orgnr="2120000143", domain="annanby.se")
    questions = [q.id for q in model.questions[:3]]
    turns = [
        (
            s.response_id,
            Turn(actor(s.coordinator), "web", datetime(2027, 3, 5, 10, n, tzinfo=UTC), f"{qid} a säker"),
        )
        for n, (s, qid) in enumerate((s, qid) for qid in questions for s in (one, two))
    ]
    async with _Held(sqlite_db):
        tasks = [asyncio.create_task(handle_turn(sqlite_db, model, rid, turn)) for rid, turn in turns]
        missing = asyncio.create_task(handle_turn(sqlite_db, model, 999_999, turns[0][1]))
        await _settle()
        handovers.clear()
    outcomes = await asyncio.gather(*tasks)
    with pytest.raises(ResponseNotFound):
        await missing
    assert handovers["commit"] == 1
    assert [o.attempts for o in outcomes] == [1] * len(turns)
    for s in (one, two):
        async with sqlite_db.transaction(readonly=True) as session:
            response = await session.get(Response, s.response_id)
            assert response is not None and response.version == len(questions)
            state = await load_state(session, response)
            revisions = (
                await session.exec(select(AnswerRevision).where(AnswerRevision.response_id == s.response_id))
            ).all()
        assert sorted(state.answers) == sorted(questions)
        assert all(state.answers[q].options == ("a",) for q in questions)
        assert sorted(r.question for r in revisions) == sorted(questions)
    after = await handle_turn(
        sqlite_db,
        model,
        one.response_id,
        Turn(actor(one.coordinator), "web", datetime(2027, 3, 5, 11, tzinfo=UTC), f"{questions[0]} b osäker"),
    )
    assert after.step.state.version == len(questions) + 1
    assert set(after.step.state.answers) == set(questions)


async def test_a_turn_whose_effects_fail_leaves_the_other_turns_of_its_group_alone(
    sqlite_db: Database, model: Model
) -> None:
    """Effects write through an ORM session in the turn's transaction; when its flush fails,
    the session rolls back its own work, not the transaction the group shares."""
    orgs = [
        await seed(sqlite_db, model, name=f"K{n}", orgnr=f"212000014{n}", domain=f"k{n}.se") for n in range(3)
    ]

    async def effects(session: Any, ctx: Any, turn: Turn, step: Any) -> None:
        if ctx.organisation.name == "K1":
            session.add(Organisation(name=None, type="kommun"))  # NOT NULL: the flush fails

    qid = model.questions[0].id
    async with _Held(sqlite_db):
        tasks = [
            asyncio.create_task(
                handle_turn(
                    sqlite_db,
                    model,
                    s.response_id,
                    Turn(actor(s.coordinator), "web", datetime(2027, 3, 5, 10, tzinfo=UTC), f"{qid} a säker"),
                    effects=effects,
                )
            )
            for s in orgs
        ]
        await _settle()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], sa.exc.IntegrityError), results
    assert [r.step.state.version for r in (results[0], results[2])] == [1, 1]  # type: ignore[union-attr]
    async with sqlite_db.transaction(readonly=True) as session:
        versions = {r.id: r.version for r in (await session.exec(select(Response))).all()}
    assert [versions[s.response_id] for s in orgs] == [1, 0, 1]


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])
async def test_random_writers_store_exactly_what_they_were_told_was_stored(sqlite_db: Database) -> None:
    """Blocks and exclusive transactions at random: some suspend, some raise, some are
    cancelled at a random moment. Every write that returned is stored, none that raised is;
    one cancelled may be either (cancelled while its commit ran: as with a transaction of its
    own). No writer is left waiting, and the lock is free at the end."""
    rng = random.Random(5)
    stored: set[str] = set()
    cancelled: set[str] = set()

    async def writer(name: str, kind: str, pause: int, fail: bool) -> None:
        if kind == "block":
            async with sqlite_db.connection() as conn:
                await _insert(conn, name)
                for _ in range(pause):
                    await asyncio.sleep(0)
                if fail:
                    raise ValueError(name)
        else:
            async with sqlite_db.transaction() as session:
                session.add(Organisation(name=name, type="kommun"))
                await session.flush()
                for _ in range(pause):
                    await asyncio.sleep(0)
                if fail:
                    raise ValueError(name)
        stored.add(name)

    for round_ in range(8):
        tasks = []
        for n in range(30):
            kind = "block" if rng.random() < 0.8 else "transaction"
            tasks.append(
                asyncio.create_task(
                    writer(f"R{round_}-{n}", kind, rng.choice([0, 0, 1, 3]), rng.random() < 0.15)
                )
            )
            if rng.random() < 0.3:
                await asyncio.sleep(0)
        for _ in range(rng.randrange(6)):
            await asyncio.sleep(0)
        for task in rng.sample(tasks, 4):
            task.cancel()
        async with asyncio.timeout(10):
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for n, result in enumerate(results):
            if isinstance(result, asyncio.CancelledError):
                cancelled.add(f"R{round_}-{n}")
            elif result is not None:
                assert isinstance(result, ValueError), result
    names = set(await _names(sqlite_db))
    assert stored <= names and names - stored <= cancelled
    assert len(stored) > 100 and len(cancelled) >= 16
    async with asyncio.timeout(1), sqlite_db.connection() as conn:  # nobody holds the lock
        await _insert(conn, "last")
