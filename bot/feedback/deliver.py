"""Queuing the feedback mail when a response is completed (or completed again with klar).

The report is rendered once per language (charts, HTML, text and PDF take most of a
second) in a worker thread, and each recipient — the coordinators and the managers — gets
a copy with their own To and Message-ID. Where the organisation has a scored response in
an earlier cycle under the same model, the report shows what changed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import Contact, Cycle, Response
from bot.feedback.mail import feedback_message
from bot.mail.compose import message_id
from bot.mail.outbox import enqueue
from bot.settings import Settings
from conversations.engine import score_state
from conversations.questionnaire import Model
from conversations.state import ConversationState
from scoring.compare import Comparison, compare
from scoring.feedback import feedback_facts
from scoring.result import ScoreResult


async def earlier_comparison(
    session: AsyncSession, model: Model, response: Response, cycle: Cycle, result: ScoreResult
) -> Comparison | None:
    """The comparison with the organisation's latest scored response of an earlier cycle."""
    from bot.turn import load_state

    rows = (
        await session.exec(
            select(Response, Cycle)
            .join(Cycle, col(Cycle.id) == Response.cycle_id)
            .where(
                Response.organisation_id == response.organisation_id,
                col(Cycle.launch) < cycle.launch,
                col(Response.status).in_(("completed", "submitted", "closed")),
                col(Response.score).is_not(None),
            )
            .order_by(col(Cycle.launch).desc())
            .limit(1)
        )
    ).first()
    if rows is None:
        return None
    before, _ = rows
    if before.model_id != model.id or before.model_version != model.version:
        return None  # the earlier model is not loaded here; levels are not comparable anyway
    state: ConversationState = await load_state(session, before)
    return compare(model, result, model, score_state(model, state))


async def queue_feedback(
    session: AsyncSession,
    settings: Settings,
    model: Model,
    *,
    response: Response,
    organisation_name: str,
    cycle: Cycle,
    result: ScoreResult,
    state: ConversationState,
    recipients: Sequence[Contact],
) -> int:
    """Queue the feedback mail to each recipient; returns how many were queued."""
    comparison = await earlier_comparison(session, model, response, cycle, result)
    facts = feedback_facts(
        model,
        result,
        comparison=comparison,
        answers=state.answers,
        method_support_url=settings.method_support_url,
    )
    by_language: dict[str, list[Contact]] = {}
    for contact in recipients:
        lang = contact.language if contact.language in model.languages else model.default_language
        by_language.setdefault(lang, []).append(contact)
    queued = 0
    for lang, contacts in by_language.items():
        template = await asyncio.to_thread(
            feedback_message, settings, model, facts, to=contacts[0].email,
            organisation_name=organisation_name, cycle_name=cycle.name, lang=lang, response=response,
        )  # fmt: skip
        for contact in contacts:
            msg = copy.deepcopy(template)
            msg.replace_header("To", contact.email)
            msg.replace_header("Message-ID", message_id(settings))
            queued += await enqueue(
                session, msg, key=f"feedback:{response.id}:{response.version}:{contact.email}",
                kind="feedback", response_id=response.id,
            )  # fmt: skip
    return queued
