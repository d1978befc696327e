"""Management appoints the coordinator by answering the launch letter.

The letter (and the reminders to management) is answered to ``utse+TOKEN@reply-domain``,
where TOKEN is signed for the organisation (``signed_token(secret, "appoint", id)``).
:func:`appointment_reply` is called by the inbound pipeline (``bot/mail/ingest.py``) for
such a message:

- a message whose ``Authentication-Results`` fail is refused silently (it could make a
  stranger the coordinator);
- the sender must be an active member of the organisation's management; anyone else is
  refused with a short answer;
- ``pausa`` alone pauses the reminders to that manager for the cycle;
- otherwise the first e-mail address in what the sender wrote (the text above the quoted
  history; the signature below an address comes later) that is not the sender's own, nor
  one of ours, nor the example in our letter, is the coordinator: registered
  as coordinator and respondent (an existing contact keeps its record and gets the roles;
  a bouncing mark is cleared because management vouches for the address). In every
  launched cycle the organisation's response is started and the first section mailed to
  the coordinator; where a response exists already, the new coordinator gets the section
  it is at. The manager gets a confirmation. No address found: the manager is asked again.

Everything of one reply happens in one transaction, together with marking the inbound
message processed (conditionally, so a message is acted on once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cycle.times import closes_at, local_day, zone
from bot.db.tables import AuditEntry, Contact, Cycle, Organisation, Response, now
from bot.mail.compose import section_mail
from bot.mail.outbox import enqueue
from bot.organisations import Invalid, normalise_email
from bot.reminders.mail import APPOINT_EXAMPLE, cycle_message
from bot.responses import start_response
from bot.settings import Settings
from bot.turn import load_state
from conversations.questionnaire import Model
from conversations.state import ConversationState

if TYPE_CHECKING:
    from bot.mail.inbound import InboundMail
    from bot.mail.ingest import Ingestor, IngestResult

_FIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_HISTORY = re.compile(
    r"^\s*(>|-{3,}|_{5,}|(Från|From|Skickat|Sent)\s*:|(Den|On)\b.*\b(skrev|wrote)\b.*:\s*$)", re.IGNORECASE
)
_PAUSE = re.compile(r"^\W*(pausa|pause)\W*$", re.IGNORECASE)
_DONE = ("completed", "submitted", "closed")


def own_text(text: str) -> str:
    """The text the sender wrote: up to the quoted history (a ``>`` line, an attribution, an
    Outlook header or separator). Unlike ``answer_text`` it keeps lines that hold nothing but
    an address, which is exactly what an appointment reply is."""
    lines = []
    for line in text.splitlines():
        if _HISTORY.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def coordinator_address(text: str, *, sender: str, ours: set[str], our_domains: set[str]) -> str | None:
    """The first valid address in ``text`` that is neither the sender's nor ours (nor our example)."""
    examples = {e.split()[-1].lower() for e in APPOINT_EXAMPLE.values()}
    for m in _FIND.finditer(text):
        candidate = m.group(0).rstrip(".-").lower()
        domain = candidate.rpartition("@")[2]
        if candidate == sender or candidate in ours or candidate in examples or domain in our_domains:
            continue
        try:
            return normalise_email(candidate)[1]
        except Invalid:
            continue
    return None


@dataclass
class Registered:
    contact: Contact
    created: bool
    started: list[str] = field(default_factory=list)  # cycles whose response was started now
    joined: list[str] = field(default_factory=list)  # cycles whose response was under way


async def open_cycles(session: AsyncSession, settings: Settings, at: datetime) -> list[Cycle]:
    """Launched cycles still before their deadline."""
    tz = zone(settings.timezone)
    cycles = (await session.exec(select(Cycle).where(Cycle.status == "launched"))).all()
    return [c for c in cycles if at < closes_at(c.deadline, tz)]


async def register_coordinator(
    session: AsyncSession,
    settings: Settings,
    model: Model,
    organisation: Organisation,
    email: str,
    *,
    by: Contact,
    at: datetime,
) -> Registered:
    """Make ``email`` a coordinator of ``organisation`` and send them what there is to answer."""
    assert organisation.id is not None
    contact = (
        await session.exec(
            select(Contact).where(Contact.organisation_id == organisation.id, Contact.email == email)
        )
    ).first()
    created = contact is None
    if contact is None:
        contact = Contact(organisation_id=organisation.id, email=email, language=by.language)
    contact.coordinator = contact.respondent = contact.active = True
    contact.failing_since = None
    session.add(contact)
    await session.flush()
    session.add(
        AuditEntry(
            at=at,
            actor=by.email,
            action="contact.appointed",
            organisation_id=organisation.id,
            details={"email": email, "created": created},
        )
    )
    result = Registered(contact, created)
    for cycle in await open_cycles(session, settings, at):
        if cycle.model_id != model.id:
            continue
        response = (
            await session.exec(
                select(Response).where(
                    Response.organisation_id == organisation.id, Response.cycle_id == cycle.id
                )
            )
        ).first()
        if response is None:
            started = await start_response(session, settings, model, organisation, cycle, actor=by.email)
            started.response.created_at = at
            session.add(started.response)
            result.started.append(cycle.name)
            continue
        if response.status in _DONE:
            continue
        state: ConversationState = await load_state(session, response)
        msg = section_mail(
            settings,
            model,
            response=response,
            organisation=organisation,
            cycle=cycle,
            contact=contact,
            index=min(response.section, len(model.sections) - 1),
            answers=state.answers,
            only_open=True,
        )
        await enqueue(
            session,
            msg,
            key=f"section:{response.id}:appointed:{email}",
            kind="section",
            response_id=response.id,
        )
        result.joined.append(cycle.name)
    return result


async def appointment_reply(
    ingestor: Ingestor, inbound_id: int, mail: InboundMail, organisation_id: int
) -> IngestResult:
    """Act on a reply to ``utse+TOKEN@`` for ``organisation_id`` (see the module docstring)."""
    from bot.mail.ingest import EX_OK, IngestResult

    db, settings, model = ingestor.db, ingestor.settings, ingestor.model
    if mail.authentication.failed:
        await ingestor._finish(inbound_id, "refused", "authentication failed on an appointment reply")
        return IngestResult("refused", EX_OK, inbound_id, reason="authentication failed")
    at = now()
    async with db.transaction(readonly=True) as session:
        organisation = await session.get(Organisation, organisation_id)
        contacts = list(
            (await session.exec(select(Contact).where(Contact.organisation_id == organisation_id))).all()
        )
        cycles = await open_cycles(session, settings, at)
        cycle = (
            cycles[-1]
            if cycles
            else (await session.exec(select(Cycle).order_by(col(Cycle.id).desc()))).first()
        )
    if organisation is None or cycle is None:
        await ingestor._finish(inbound_id, "unmatched", f"no organisation {organisation_id} or no cycle")
        return IngestResult("unmatched", EX_OK, inbound_id, reason="unknown organisation")
    manager = next((c for c in contacts if c.email == mail.from_address and c.active and c.manager), None)
    today = local_day(at, zone(settings.timezone))

    async def answer(session: AsyncSession, kind: str, to: Contact, **values: object) -> None:
        if mail.auto_reply or mail.bounce or not to.email:
            return
        msg = cycle_message(
            settings, model, kind, contact=to, organisation=organisation, cycle=cycle, today=today,
            in_reply_to=mail.message_id or None, **values,  # type: ignore[arg-type]
        )  # fmt: skip
        await enqueue(session, msg, key=f"appoint:{kind}:{inbound_id}", kind="notice")

    if manager is None:
        reason = f"{mail.from_address} is not management of {organisation.name}"
        async with db.transaction() as session:
            if await ingestor._mark(session, inbound_id, "refused", reason, None, organisation_id):
                stranger = Contact(organisation_id=organisation_id, email=mail.from_address)
                await answer(session, "appoint_refused", stranger)
        return IngestResult("refused", EX_OK, inbound_id, reason=reason)

    text = own_text(mail.text)
    address = coordinator_address(
        text,
        sender=mail.from_address,
        ours=set(ingestor.own_addresses),
        our_domains={settings.reply_domain.lower()},
    )
    if address is None:
        paused = any(_PAUSE.match(line) for line in text.splitlines() if line.strip())
        async with db.transaction() as session:
            status_reason = "reminders paused" if paused else "no coordinator address in the reply"
            if not await ingestor._mark(
                session, inbound_id, "processed", status_reason, None, organisation_id
            ):
                return IngestResult("duplicate", EX_OK, inbound_id)
            if paused:
                manager.reminders_paused, manager.reminders_paused_at = True, at
                session.add(manager)
                session.add(
                    AuditEntry(
                        at=at, actor=manager.email, action="contact.paused", organisation_id=organisation_id
                    )
                )
                await answer(session, "paused", manager)
            else:
                await answer(session, "appoint_unclear", manager)
        return IngestResult("processed", EX_OK, inbound_id, reason=status_reason)

    async with db.transaction() as session:
        if not await ingestor._mark(
            session, inbound_id, "processed", f"appointed {address}", None, organisation_id
        ):
            return IngestResult("duplicate", EX_OK, inbound_id)
        registered = await register_coordinator(
            session, settings, model, organisation, address, by=manager, at=at
        )
        await answer(
            session,
            "appointed",
            manager,
            coordinator=address,
            started=bool(registered.started or registered.joined),
        )
    return IngestResult("processed", EX_OK, inbound_id, reason=f"appointed {address}")
