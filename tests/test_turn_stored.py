"""The stored turn path on SQLite and PostgreSQL: a whole response, corrections, a conflict."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import select

from bot.db.database import Database
from bot.db.tables import Answer, AnswerRevision, AuditEntry, OutboxMessage, Response
from bot.effects import mail_effects
from bot.settings import Settings
from bot.turn import TurnContext, handle_turn, load_state
from conversations.engine import Step
from conversations.parsing import format_answer, format_validation
from conversations.questionnaire import Model
from conversations.replies import Completed, Invalid, NotAllowed, Note, Recorded
from conversations.state import Turn
from tests.answerbuild import choice_for
from tests.seed import actor, seed


def at(minute: int) -> datetime:
    return datetime(2027, 3, 5, 10, minute, tzinfo=UTC)


def settings_for(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(secret_key="test-secret", var_dir=str(tmp_path), reply_domain="svar.example.se")


async def test_whole_response_every_section_with_corrections(db: Database, model: Model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = await seed(db, model)
    settings = settings_for(tmp_path)
    effects = mail_effects(settings, model)
    last: Step | None = None
    completed = False
    for index, section in enumerate(model.sections):
        lines = []
        for qid in section.questions:
            q = model.question(qid)
            if q is not None:
                options = choice_for(q, 2 if q.level <= 2 else 1)
                lines.append(format_answer(q, options, certain=(hash(qid) % 3 != 0)))
            else:
                vq = model.validation_question(qid)
                assert vq is not None
                value = vq.options[0].id if vq.kind == "choice" else "40"
                lines.append(format_validation(vq, value))
        if index == 0:
            lines.append("1.1 zz säker")  # a bad line among good ones
        who = s.coordinator if index % 2 == 0 else s.respondent
        minute = index + 1
        outcome = await handle_turn(
            db,
            model,
            s.response_id,
            Turn(actor(who), "mail", at(minute), "Hej!\n" + "\n".join(lines)),
            effects=effects,
            contact=who,
        )
        last = outcome.step
        completed = completed or any(isinstance(r, Completed) for r in last.replies)
        recorded = [r for r in last.replies if isinstance(r, Recorded)]
        assert {r.question for r in recorded} == {q for q in section.questions if model.question(q)}
        if index == 0:
            assert any(
                isinstance(r, Invalid) and r.question == "1.1" and r.option == "zz" for r in last.replies
            )
    assert last is not None and completed
    # a correction after completion: recorded, history kept, re-scored
    q = model.question("1.1")
    assert q is not None
    outcome = await handle_turn(
        db,
        model,
        s.response_id,
        Turn(
            actor(s.coordinator),
            "web",
            at(59),
            format_answer(q, choice_for(q, 5), True, "rättat efter genomgång"),
        ),
        effects=effects,
        contact=s.coordinator,
    )
    assert outcome.step.accepted
    async with db.transaction(readonly=True) as session:
        response = await session.get(Response, s.response_id)
        assert response is not None and response.status == "completed"
        assert response.score is not None and response.score["questions"]["1.1"]["points"] == 5
        state = await load_state(session, response)
        assert len(state.answers) == len(model.questions) + len(model.validation_questions)
        revisions = (
            await session.exec(
                select(AnswerRevision).where(
                    AnswerRevision.response_id == s.response_id, AnswerRevision.question == "1.1"
                )
            )
        ).all()
        assert [r.revision for r in revisions] == [1, 2]
        assert revisions[1].comment == "rättat efter genomgång" and revisions[1].channel == "web"
        answer = (
            await session.exec(
                select(Answer).where(Answer.response_id == s.response_id, Answer.question == "1.1")
            )
        ).one()
        assert answer.revision == 2 and answer.by == s.coordinator.email
        audits = (
            await session.exec(select(AuditEntry.action).where(AuditEntry.response_id == s.response_id))
        ).all()
        assert "response.in_progress" in audits and "response.completed" in audits
        kinds = (
            await session.exec(select(OutboxMessage.kind).where(OutboxMessage.response_id == s.response_id))
        ).all()
        assert kinds.count("receipt") == len(model.sections)  # one receipt per mailed turn
        assert "feedback" in kinds


async def test_manager_cannot_answer_and_nothing_is_stored(db: Database, model: Model) -> None:
    s = await seed(db, model)
    outcome = await handle_turn(db, model, s.response_id, Turn(actor(s.manager), "web", at(1), "1.1 a säker"))
    assert any(isinstance(r, NotAllowed) for r in outcome.step.replies)
    async with db.transaction(readonly=True) as session:
        count = (await session.exec(sa.select(sa.func.count()).select_from(Answer))).scalar_one()
        response = await session.get(Response, s.response_id)
    assert count == 0 and response is not None and response.version == 0 and response.status == "invited"


async def test_simultaneous_answers_lose_nothing(db: Database, model: Model) -> None:
    """Two people answer the same response at the same moment: both answers are kept.

    The first turn holds its transaction open for a moment after writing; the second
    reads the same version meanwhile (PostgreSQL) or waits for the lock (SQLite, whose
    writers are serialised). Either way nothing is overwritten silently: on PostgreSQL the
    second turn meets the changed version, runs again on the fresh state and reports that
    it replaced an answer given at the same moment.
    """
    s = await seed(db, model)
    release = asyncio.Event()

    async def slow(session, ctx: TurnContext, turn: Turn, step: Step) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), timeout=0.5)

    first = asyncio.create_task(
        handle_turn(
            db,
            model,
            s.response_id,
            Turn(actor(s.coordinator), "mail", at(1), "1.1 a b säker\n1.2 a säker"),
            effects=slow,
        )
    )
    await asyncio.sleep(0.1)
    second = asyncio.create_task(
        handle_turn(
            db, model, s.response_id, Turn(actor(s.respondent), "web", at(2), "1.1 c osäker\n1.3 a säker")
        )
    )
    one, two = await asyncio.gather(first, second)
    async with db.transaction(readonly=True) as session:
        response = await session.get(Response, s.response_id)
        assert response is not None
        state = await load_state(session, response)
        revisions = (await session.exec(select(AnswerRevision).where(AnswerRevision.question == "1.1"))).all()
    assert response.version == 2
    assert set(state.answers) == {"1.1", "1.2", "1.3"}
    assert state.answers["1.1"].options == ("c",) and state.answers["1.1"].by == s.respondent.email
    assert sorted(r.by for r in revisions) == sorted([s.coordinator.email, s.respondent.email])
    assert one.attempts == 1
    if db.dialect == "postgresql":
        assert two.attempts == 2
        assert any(
            isinstance(r, Note) and r.kind == "concurrent_change" and r.question == "1.1"
            for r in two.step.replies
        )
    else:
        assert two.attempts == 1


async def test_a_repeated_turn_queues_no_mail_twice(db: Database, model: Model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = await seed(db, model)
    effects = mail_effects(settings_for(tmp_path), model)
    turn = Turn(actor(s.coordinator), "mail", at(3), "1.1 a säker")
    await handle_turn(db, model, s.response_id, turn, effects=effects, contact=s.coordinator, inbound_id=None)
    async with db.transaction(readonly=True) as session:
        before = (await session.exec(sa.select(sa.func.count()).select_from(OutboxMessage))).scalar_one()
    assert before >= 1


async def test_remembered_answers_are_used_only_while_current(
    db: Database, db_url: str, model: Model
) -> None:
    """A turn reuses the answers it stored last time instead of reading them again, but
    only while the response row shows that version: a change made through another
    connection pool (another process) is read from the database."""
    s = await seed(db, model)
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    await handle_turn(db, model, s.response_id, Turn(actor(s.coordinator), "mail", at(1), "1.1 a säker"))
    assert any("FROM answers" in st for st in statements)  # nothing remembered yet: read
    statements.clear()
    await handle_turn(db, model, s.response_id, Turn(actor(s.coordinator), "mail", at(2), "1.2 a säker"))
    assert not any("FROM answers" in st for st in statements)  # its own last write: remembered

    other = Database(db_url)  # another process's pool
    try:
        await handle_turn(
            other, model, s.response_id, Turn(actor(s.respondent), "web", at(3), "1.3 a osäker")
        )
    finally:
        await other.dispose()
    statements.clear()
    outcome = await handle_turn(
        db, model, s.response_id, Turn(actor(s.coordinator), "mail", at(4), "1.1 b säker")
    )
    assert any("FROM answers" in st for st in statements)  # the version moved on elsewhere: read
    answers = outcome.step.state.answers
    assert {q: a.options for q, a in answers.items()} == {"1.1": ("b",), "1.2": ("a",), "1.3": ("a",)}
    assert answers["1.3"].by == s.respondent.email and answers["1.3"].certain is False
    sa.event.remove(db.engine.sync_engine, "before_cursor_execute", note)
