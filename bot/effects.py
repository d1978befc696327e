"""What a stored turn causes beyond the state: the mail it queues.

Decided per channel (style.md "mails_for"): a turn by mail gets a receipt quoting what
was recorded and what could not be used, and the next section when the conversation
moves on; any turn that completes the response queues the completion mail to the
coordinator and the managers; ``pausa`` pauses the reminders to that contact for the cycle.
Everything is queued in the turn's transaction, under keys that make a repeated turn queue
nothing twice.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import Contact, InboundMessage
from bot.feedback.deliver import queue_feedback
from bot.i18n import gettext
from bot.mail.compose import new_message, section_mail
from bot.mail.outbox import enqueue
from bot.mail.render import set_bodies
from bot.reminders import pause_reminders
from bot.replies_text import render_replies
from bot.settings import Settings
from bot.turn import Effects, TurnContext
from conversations.engine import Step
from conversations.progress import Progress
from conversations.questionnaire import Model
from conversations.replies import AskSection, Completed, Paused, StatusReport, Submitted
from conversations.state import Turn


def mail_effects(settings: Settings, model: Model) -> Effects:
    """The effects callback for :func:`bot.turn.handle_turn`."""

    async def effects(session: AsyncSession, ctx: TurnContext, turn: Turn, step: Step) -> None:
        response = ctx.response
        assert response.id is not None
        turn_key = f"{response.id}:{ctx.inbound_id or response.version}"
        lang = step.language
        if turn.channel == "mail":
            replies = list(step.replies)
            if not any(isinstance(r, StatusReport | Completed | Submitted) for r in replies):
                progress = Progress(model, step.state.answers)
                replies.append(
                    StatusReport(
                        step.state.status,
                        progress.sections(),
                        progress.answered_count(),
                        len(model.questions),
                        progress.remaining(),
                    )
                )
            in_reply_to = ctx.inbound_message_id
            if in_reply_to is None and ctx.inbound_id is not None:
                in_reply_to = (
                    await session.exec(
                        select(InboundMessage.message_id).where(InboundMessage.id == ctx.inbound_id)
                    )
                ).first()
            subject = gettext(lang, "Kvitto: dina svar till %(org)s", org=ctx.organisation.name)
            receipt = new_message(
                settings,
                to=turn.actor.email,
                subject=subject,
                lang=lang,
                response=response,
                auto="auto-replied",
                in_reply_to=in_reply_to,
            )
            text, markdown = render_replies(
                model, replies, lang, authority=settings.authority_name, status=step.state.status
            )
            set_bodies(receipt, text, markdown, lang=lang, title=subject)
            await enqueue(
                session, receipt, key=f"receipt:{turn_key}", kind="receipt", response_id=response.id
            )
            for reply in step.replies:
                if isinstance(reply, AskSection) and ctx.contact is not None:
                    msg = section_mail(
                        settings,
                        model,
                        response=response,
                        organisation=ctx.organisation,
                        cycle=ctx.cycle,
                        contact=ctx.contact,
                        index=reply.index,
                        answers=step.state.answers,
                        only_open=True,
                    )
                    await enqueue(
                        session,
                        msg,
                        key=f"section:{response.id}:{reply.section}:{response.version}",
                        kind="section",
                        response_id=response.id,
                    )
        for reply in step.replies:
            if isinstance(reply, Paused) and ctx.organisation.id is not None:  # "pausa": no more reminders
                await pause_reminders(session, ctx.organisation.id, reply.email, turn.at)
        completed = next((r for r in step.replies if isinstance(r, Completed)), None)
        if completed is not None:
            recipients = [
                c
                for c in (
                    await session.exec(
                        select(Contact).where(
                            col(Contact.organisation_id) == ctx.organisation.id, col(Contact.active).is_(True)
                        )
                    )
                ).all()
                if (c.coordinator or c.manager) and c.failing_since is None
            ]
            await queue_feedback(
                session, settings, model, response=response, organisation_name=ctx.organisation.name,
                cycle=ctx.cycle, result=completed.result, state=step.state, recipients=recipients,
            )  # fmt: skip

    def wanted(turn: Turn, step: Step) -> bool:
        """Whether this turn causes anything here (web and command-line turns: completion, pausa)."""
        return turn.channel == "mail" or any(isinstance(r, Completed | Paused) for r in step.replies)

    effects.wanted = wanted  # type: ignore[attr-defined]
    return effects
