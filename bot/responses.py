"""Starting a response: the organisation's conversation in a cycle, and its first mail.

Used by ``assessbot response start``, the cycle launch and the demo. By mail the first
section goes to the coordinators; for the web chat they get an invitation with the
address of the chat (where a sign-in link is mailed to them on request).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import AuditEntry, Contact, Cycle, Organisation, Response
from bot.i18n import gettext
from bot.mail.compose import new_message, section_mail
from bot.mail.outbox import enqueue
from bot.mail.render import set_text_bodies
from bot.settings import Settings
from conversations.questionnaire import Model


class NoCoordinator(Exception):
    """The organisation has no active coordinator to write to."""


@dataclass(frozen=True, slots=True)
class Started:
    response: Response
    created: bool
    queued: int


async def start_response(
    session: AsyncSession,
    settings: Settings,
    model: Model,
    organisation: Organisation,
    cycle: Cycle,
    *,
    channel: str = "mail",
    actor: str = "cli",
) -> Started:
    """Create the response (once) and queue its first mail to every coordinator.

    Raises:
        NoCoordinator: nobody to send to; nothing is created.
    """
    assert organisation.id is not None and cycle.id is not None
    existing = (
        await session.exec(
            select(Response).where(Response.organisation_id == organisation.id, Response.cycle_id == cycle.id)
        )
    ).first()
    if existing is not None:
        return Started(existing, False, 0)
    contacts = (await session.exec(select(Contact).where(Contact.organisation_id == organisation.id))).all()
    coordinators = [c for c in contacts if c.coordinator and c.active]
    if not coordinators:
        raise NoCoordinator(organisation.name)
    response = Response(
        organisation_id=organisation.id, cycle_id=cycle.id, model_id=model.id, model_version=model.version
    )
    session.add(response)
    await session.flush()
    queued = 0
    for contact in coordinators:
        if channel == "mail":
            msg = section_mail(
                settings,
                model,
                response=response,
                organisation=organisation,
                cycle=cycle,
                contact=contact,
                index=0,
                answers={},
            )
            key = f"section:{response.id}:{model.sections[0].id}:start:{contact.email}"
        else:
            lang = contact.language
            subject = gettext(
                lang,
                "%(s)s %(cycle)s: svara i webbchatten",
                s=gettext(lang, "Infosäkkollen"),
                cycle=cycle.name,
            )
            msg = new_message(settings, to=contact.email, subject=subject, lang=lang, response=response)
            text = gettext(
                lang,
                "Hej!\n\nUppföljningen %(cycle)s för %(org)s är öppen. Svara i webbchatten: %(url)s\n\n"
                "Ange din e-postadress där, så får du en inloggningslänk. Du kan också svara på det här mejlet.",
                cycle=cycle.name,
                org=organisation.name,
                url=settings.base_url.rstrip("/") + "/",
            )
            set_text_bodies(msg, text, lang=lang, title=subject)
            key = f"invitation:{response.id}:{contact.email}"
        if response.thread_id is None:
            response.thread_id = str(msg["Message-ID"])
        queued += await enqueue(
            session,
            msg,
            key=key,
            kind="section" if channel == "mail" else "invitation",
            response_id=response.id,
        )
    response.sections_sent = model.sections[0].id if channel == "mail" else ""
    session.add(response)
    session.add(
        AuditEntry(
            actor=actor,
            action="response.started",
            organisation_id=organisation.id,
            response_id=response.id,
            details={"channel": channel},
        )
    )
    return Started(response, True, queued)
