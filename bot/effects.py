"""What a stored turn causes beyond the state: the mail it queues.

Decided per channel (style.md "mails_for"): a turn by mail gets a receipt quoting what
was recorded and what could not be used, and the next section when the conversation
moves on; any turn that completes the response queues the completion mail to the
coordinator and the managers. Everything is queued in the turn's transaction, under keys
that make a repeated turn queue nothing twice.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import Contact
from bot.i18n import gettext
from bot.mail.compose import new_message, section_mail
from bot.mail.outbox import enqueue
from bot.replies_text import render_replies_text
from bot.settings import Settings
from bot.turn import Effects, TurnContext
from conversations.engine import Step
from conversations.questionnaire import Model
from conversations.replies import AskSection, Completed
from conversations.state import Turn


def mail_effects(settings: Settings, model: Model) -> Effects:
    """The effects callback for :func:`bot.turn.handle_turn`."""

    async def effects(session: AsyncSession, ctx: TurnContext, turn: Turn, step: Step) -> None:
        response = ctx.response
        assert response.id is not None
        turn_key = f"{response.id}:{ctx.inbound_id or response.version}"
        lang = step.language
        if turn.channel == "mail":
            subject = gettext(lang, "Kvitto: dina svar till %(org)s", org=ctx.organisation.name)
            receipt = new_message(
                settings,
                to=turn.actor.email,
                subject=subject,
                lang=lang,
                response=response,
                auto="auto-replied",
            )
            receipt.set_content(
                render_replies_text(
                    model, step.replies, lang, authority=settings.authority_name, status=step.state.status
                )
            )
            await enqueue(
                session, receipt, key=f"receipt:{turn_key}", kind="receipt", response_id=response.id
            )
            for reply in step.replies:
                if isinstance(reply, AskSection) and ctx.contact is not None:
                    state_answers = step.state.answers
                    msg = section_mail(
                        settings,
                        model,
                        response=response,
                        organisation=ctx.organisation,
                        cycle=ctx.cycle,
                        contact=ctx.contact,
                        index=reply.index,
                        answers=state_answers,
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
            if isinstance(reply, Completed):
                recipients = (
                    await session.exec(
                        select(Contact).where(
                            col(Contact.organisation_id) == ctx.organisation.id, col(Contact.active).is_(True)
                        )
                    )
                ).all()
                for contact in recipients:
                    if not (contact.coordinator or contact.manager):
                        continue
                    clang = contact.language
                    msg = new_message(
                        settings,
                        to=contact.email,
                        response=response,
                        lang=clang,
                        subject=gettext(
                            clang,
                            "Resultat: %(org)s i %(cycle)s",
                            org=ctx.organisation.name,
                            cycle=ctx.cycle.name,
                        ),
                    )
                    msg.set_content(
                        render_replies_text(model, [reply], clang, authority=settings.authority_name)
                    )
                    await enqueue(
                        session,
                        msg,
                        key=f"feedback:{response.id}:{response.version}:{contact.email}",
                        kind="feedback",
                        response_id=response.id,
                    )

    return effects
