"""``assessbot response start|answer|show``: one organisation's response from the command line.

``answer`` is a turn through the same engine as mail and chat (answers given by phone or
on paper); it prints the replies and exits 0 when every line was recorded, 1 when a line
was refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands.common import CommandError, run_with_database
from bot.db.database import Database
from bot.db.queries import Ambiguous, NotFound, find_cycle, find_organisation
from bot.db.tables import Contact, Cycle, Organisation, Response, now
from bot.effects import mail_effects
from bot.replies_text import render_replies_text
from bot.responses import NoCoordinator, start_response
from bot.settings import Settings
from bot.turn import handle_turn, load_state
from conversations.questionnaire import Model, load_model
from conversations.state import Actor, Turn


def _run(settings: Settings, body: Callable[[Database, Settings], Awaitable[int]]) -> int:
    async def guarded(db: Database) -> int:
        try:
            return await body(db, settings)
        except (NotFound, Ambiguous) as exc:
            raise CommandError(str(exc)) from exc

    return run_with_database(settings, guarded)


async def _response(session: AsyncSession, org: Organisation, cycle: Cycle) -> Response | None:
    return (
        await session.exec(
            select(Response).where(Response.organisation_id == org.id, Response.cycle_id == cycle.id)
        )
    ).first()


async def _contacts(session: AsyncSession, org: Organisation) -> list[Contact]:
    return list((await session.exec(select(Contact).where(Contact.organisation_id == org.id))).all())


def _model(settings: Settings) -> Model:
    return load_model(settings.model_path or None)


def start(args: argparse.Namespace) -> int:
    return _run(Settings(), lambda db, settings: _start(db, settings, args))


async def _start(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    model = _model(settings)
    async with db.transaction() as session:
        org = await find_organisation(session, args.org)
        cycle = await find_cycle(session, args.cycle)
        if cycle.model_id != model.id:
            raise CommandError(f"omgången {cycle.name} använder modellen {cycle.model_id}, inte {model.id}")
        try:
            started = await start_response(session, settings, model, org, cycle, channel=args.channel)
        except NoCoordinator:
            raise CommandError(f"{org.name} har ingen samordnare att skicka till") from None
        r = started.response
        if not started.created:
            print(f"{org.name} har redan ett svar i {cycle.name} (id {r.id}, {r.status})")
        else:
            print(f"svar {r.id} startat för {org.name} i {cycle.name}; {started.queued} mejl köade")
    return 0


def answer(args: argparse.Namespace) -> int:
    return _run(Settings(), lambda db, settings: _answer(db, settings, args))


async def _answer(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    model = _model(settings)
    async with db.transaction(readonly=True) as session:
        org = await find_organisation(session, args.org)
        cycle = await find_cycle(session, args.cycle)
        response = await _response(session, org, cycle)
        if response is None or response.id is None:
            raise CommandError(
                f"{org.name} har inget svar i {cycle.name}; kör först: assessbot response start"
            )
        email = args.as_.strip().lower()
        contact = next((c for c in await _contacts(session, org) if c.email == email), None)
        if contact is None:
            raise CommandError(f"{email} är ingen kontakt för {org.name}")
    actor = Actor(
        contact.email,
        coordinator=contact.coordinator,
        respondent=contact.respondent,
        manager=contact.manager,
        language=contact.language,
    )
    turn = Turn(actor, "cli", now(), text=" ".join(args.text) if isinstance(args.text, list) else args.text)
    outcome = await handle_turn(
        db, model, response.id, turn, effects=mail_effects(settings, model), contact=contact
    )
    step = outcome.step
    sys.stdout.write(
        render_replies_text(
            model, step.replies, step.language, authority=settings.authority_name, status=step.state.status
        )
    )
    return 0 if step.accepted else 1


def show(args: argparse.Namespace) -> int:
    return _run(Settings(), lambda db, settings: _show(db, settings, args))


async def _show(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    async with db.transaction(readonly=True) as session:
        org = await find_organisation(session, args.org)
        cycle = await find_cycle(session, args.cycle)
        response = await _response(session, org, cycle)
        if response is None:
            raise CommandError(f"{org.name} har inget svar i {cycle.name}")
        doc = await response_json(session, settings, org, cycle, response)
    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


async def response_json(
    session: AsyncSession, settings: Settings, org: Organisation, cycle: Cycle, response: Response
) -> dict[str, Any]:
    """The response as the JSON of interfaces.md ("Response")."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings.timezone)
    state = await load_state(session, response)
    answers: dict[str, Any] = {}
    validation: dict[str, Any] = {}
    for qid, rec in state.answers.items():
        if rec.skipped:
            continue
        if rec.value is not None:
            validation[qid] = rec.value
            continue
        answers[qid] = {
            "options": list(rec.options),
            "certain": rec.certain,
            "comment": rec.comment,
            "by": rec.by,
            "channel": rec.channel,
            "at": rec.at.astimezone(tz).isoformat() if rec.at else None,
            "revisions": rec.revision,
        }
    doc: dict[str, Any] = {
        "organisation": {"id": str(org.id), "name": org.name, "type": org.type},
        "cycle": cycle.name,
        "status": response.status,
        "answers": answers,
        "validation": validation,
    }
    if response.score is not None and response.status in ("completed", "submitted", "closed"):
        doc["score"] = response.score
    return doc
