"""Inbound mail, one path for every way in (MTA pipe, LMTP/SMTP listener, IMAP poller).

Theory of operation. :meth:`Ingestor.ingest` first stores the raw message in its own
transaction (``inbound_messages``, unique on Message-ID), before anything else is done
with it: a Message-ID already stored is not processed again. Then :meth:`process` reads
the message (``bot.mail.inbound.read_message``) and decides:

1. a bounce (DSN) marks the failed addresses failing, marks the outbox message failed
   and tells the organisation's coordinator (or the administrators);
2. an automatic reply (out of office) is never answered nor parsed; its return date is
   kept on the contact for the reminder plan;
3. the response is found from the signed token in the recipient address
   (``svar+TOKEN@``), then from In-Reply-To/References matching a mail we sent; a
   message that matches nothing gets a polite answer and is kept for the administrator;
4. a message whose ``Authentication-Results`` fail (SPF/DKIM/DMARC) is refused, silently
   (answering a forged sender would send mail to a stranger);
5. the sender must be a contact of the response's organisation. A sender from the
   organisation's own mail domain is *held*: the coordinator is asked to approve
   (replying GODKÄNN to ``godkann+TOKEN@``), the sender is told it waits. Anyone else is
   refused with a reason. Nothing of a held or refused message is recorded;
   (A reply to ``utse+TOKEN@``, the launch letter to management, names the organisation's
   coordinator instead: see ``bot/cycle/appoint.py``.)
6. otherwise the text (quoted history and signatures removed) is one turn through
   ``bot.turn.handle_turn`` with channel "mail". In the turn's own transaction the
   inbound row is marked processed — conditionally on still being "received" — and the
   attachments are stored as evidence, so a crash anywhere means the message is
   processed after restart, once (:meth:`process_pending`).

Every decision is recorded on the inbound row (status and reason) and nothing inbound
is ever deleted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.database import Database
from bot.db.tables import (
    Administrator,
    Attachment,
    Contact,
    InboundMessage,
    Organisation,
    OutboxMessage,
    Response,
    from_row,
    labelled,
    now,
    table_of,
)
from bot.effects import mail_effects
from bot.i18n import environment, gettext
from bot.mail.compose import new_message
from bot.mail.inbound import InboundMail, read_message
from bot.mail.outbox import enqueue
from bot.mail.render import set_text_bodies
from bot.settings import Settings
from bot.tokens import read_signed_token, signed_token
from bot.turn import TurnContext, handle_turn, parts_of, select_response_with
from conversations.engine import Step
from conversations.questionnaire import Model
from conversations.replies import Recorded, Skipped, ValueRecorded
from conversations.state import Actor, Turn

log = logging.getLogger(__name__)

EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 0, 65, 67, 75
INBOUND = table_of(InboundMessage)
_CONTACTS = table_of(Contact)
# the response, its organisation and cycle as handle_turn reads them, and the sender as a
# contact of the organisation: one statement, and the turn's first read
_LOOKUP = select_response_with(
    labelled(Contact, "c__"),
    _CONTACTS,
    sa.and_(
        _CONTACTS.c.organisation_id == table_of(Response).c.organisation_id,
        _CONTACTS.c.email == sa.bindparam("email"),
    ),
)


async def _look_up(conn: AsyncConnection, response_id: int, sender: str) -> Any:
    """``_LOOKUP``'s row for a response and a sender, or None when there is no such response."""
    return (await conn.execute(_LOOKUP, {"rid": response_id, "email": sender})).first()


_MARK_PROCESSED = (
    INBOUND.update()
    .where(INBOUND.c.id == sa.bindparam("inbound_id"), INBOUND.c.status == "received")
    .values(
        status="processed",
        response_id=sa.bindparam("response_id"),
        organisation_id=sa.bindparam("organisation_id"),
        processed_at=sa.bindparam("processed_at", type_=INBOUND.c.processed_at.type),
    )
    .returning(INBOUND.c.message_id)
)


# storing a raw message: one statement per dialect, built once (values as parameters)
_STORE_RAW = {
    name: insert(INBOUND).on_conflict_do_nothing(index_elements=["message_id"]).returning(INBOUND.c.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


_ADDRESS = re.compile(r"^(svar|godkann|utse)\+([a-z0-9-]+)@", re.IGNORECASE)
_APPROVE = re.compile(r"^\W*(godkänn|godkann|godkänner|ja|approve|yes|ok)\b", re.IGNORECASE | re.MULTILINE)
_REJECT = re.compile(r"^\W*(avvisa|avvisar|nej|reject|no)\b", re.IGNORECASE | re.MULTILINE)
_PUBLIC_WEBMAIL = {"gmail.com", "hotmail.com", "outlook.com", "live.com", "yahoo.com", "icloud.com"}

_notices = environment(jinja2.PackageLoader("mail_templates", "."), html=False)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one inbound message; ``code`` is the sysexits code for an MTA pipe."""

    status: str
    code: int = EX_OK
    inbound_id: int | None = None
    reason: str = ""
    step: Step | None = None


@dataclass(frozen=True, slots=True)
class _Looked:
    """The sender check's row (or None: no such response), read with the raw message."""

    response_id: int
    sender: str
    row: Any


class _AlreadyProcessed(Exception):
    """Another process handled this message first; roll back this attempt."""


def _message_id_of(raw: bytes) -> tuple[str, Any]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    value = str(headers.get("Message-ID") or "").strip()
    match = re.search(r"<[^<>\s]+>", value)
    return (match.group(0) if match else value), headers


class Ingestor:
    """Receives and processes inbound mail for one service."""

    def __init__(self, db: Database, settings: Settings, model: Model) -> None:
        self.db = db
        self.settings = settings
        self.model = model
        self.secret = settings.secret()
        self.effects = mail_effects(settings, model)
        own = parseaddr(settings.mail_from)[1].lower()
        self.own_addresses = {own} if own else set()
        self.attachment_limit = settings.attachment_max_bytes
        self.attachment_types = {t.strip().lower() for t in settings.attachment_types.split(",") if t.strip()}

    # ------------------------------------------------------------------ receiving

    async def ingest(self, raw: bytes, *, via: str, envelope_to: Sequence[str] = ()) -> IngestResult:
        """Store ``raw`` and process it. Never raises for bad mail; a database outage gives
        ``status="tempfail"`` with code 75 so that the MTA delivers again later."""
        if not raw.strip() or b":" not in raw.split(b"\n", 1)[0]:
            return IngestResult("unusable", EX_DATAERR, reason="not an RFC 5322 message")
        try:
            inbound_id, status, looked = await self._receive(raw, via=via, envelope_to=envelope_to)
        except _Duplicate:
            return IngestResult("duplicate", EX_OK, reason="arrived twice at once")
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("cannot store an inbound message: %s", exc.__class__.__name__)
            return IngestResult("tempfail", EX_TEMPFAIL, reason=str(exc))
        if status != "received":
            return IngestResult("duplicate", EX_OK, inbound_id, reason=f"already {status}")
        try:
            return await self.process(
                inbound_id, raw=raw, envelope=[a.lower() for a in envelope_to], looked=looked
            )
        except (OperationalError, DBAPIError, OSError) as exc:
            # stored: process_pending() handles it when the database is back
            log.warning(
                "inbound message %s stored, processing deferred: %s", inbound_id, exc.__class__.__name__
            )
            return IngestResult("stored", EX_OK, inbound_id, reason="processing deferred")

    async def receive(self, raw: bytes, *, via: str, envelope_to: Sequence[str] = ()) -> tuple[int, str]:
        """Store the raw message unless its Message-ID is stored already.

        Returns:
            ``(id, status)`` of the stored row; status "received" means not yet processed.
        """
        inbound_id, status, _ = await self._receive(raw, via=via, envelope_to=envelope_to)
        return inbound_id, status

    async def _receive(
        self, raw: bytes, *, via: str, envelope_to: Sequence[str] = ()
    ) -> tuple[int, str, _Looked | None]:
        """:meth:`receive`, and for a new message sent to a reply address, the sender check's
        row (``_LOOKUP``) read in the same transaction: one transaction fewer per answer."""
        message_id, headers = _message_id_of(raw)
        if not message_id:
            message_id = read_message(raw).message_id  # a stable digest of the bytes
        sender = parseaddr(str(headers.get("From") or ""))[1].lower()
        recipients = [
            a.lower() for _, a in getaddresses([str(headers.get(h) or "") for h in ("To", "Cc")]) if a
        ]
        recipient = ", ".join(dict.fromkeys([*(a.lower() for a in envelope_to), *recipients]))
        message_id = message_id[:900]
        values = {
            "message_id": message_id,
            "raw": raw,
            "via": via,
            "sender": sender[:320],
            "recipient": recipient[:2000],
            "subject": str(headers.get("Subject") or "")[:500],
            "received_at": now(),
        }
        async with self.db.connection() as conn:
            row = (await conn.execute(_STORE_RAW[self.db.dialect], values)).first()
            if row is not None:
                response_id = self._token([*(a.lower() for a in envelope_to), *recipients], "svar", "reply")
                if response_id is None or not sender:
                    return int(row.id), "received", None
                return (
                    int(row.id),
                    "received",
                    _Looked(response_id, sender, await _look_up(conn, response_id, sender)),
                )
            # the Message-ID is stored already (or was just now, by another process)
            existing = (
                await conn.execute(
                    sa.select(INBOUND.c.id, INBOUND.c.status).where(INBOUND.c.message_id == message_id)
                )
            ).first()
        if existing is None:
            raise _Duplicate(message_id)
        return int(existing.id), str(existing.status), None

    async def process_pending(self, older_than: timedelta = timedelta(seconds=0)) -> int:
        """Process every stored message still "received" (after a crash). Returns how many."""
        cutoff = now() - older_than
        async with self.db.transaction(readonly=True) as session:
            ids = (
                await session.exec(
                    select(InboundMessage.id).where(
                        InboundMessage.status == "received", col(InboundMessage.received_at) <= cutoff
                    )
                )
            ).all()
        for inbound_id in ids:
            assert inbound_id is not None
            await self.process(inbound_id)
        return len(ids)

    # ------------------------------------------------------------------ processing

    async def process(
        self,
        inbound_id: int,
        *,
        raw: bytes | None = None,
        envelope: list[str] | None = None,
        looked: _Looked | None = None,
    ) -> IngestResult:
        """Decide what the stored message is and act on it (see the module docstring).

        ``raw`` and ``envelope`` are given when the message was stored just now; otherwise
        they are read back from the stored row. ``looked`` is the sender check's row when
        it was read with the raw message.
        """
        if raw is None or envelope is None:
            async with self.db.transaction(readonly=True) as session:
                row = await session.get(InboundMessage, inbound_id)
                assert row is not None
                if row.status != "received":
                    return IngestResult("duplicate", EX_OK, inbound_id, reason=f"already {row.status}")
                raw, envelope = row.raw, [a.strip() for a in row.recipient.split(",") if a.strip()]
        mail = read_message(raw)
        if not mail.from_address and not mail.text.strip() and not mail.bounce:
            await self._finish(inbound_id, "failed", "unusable: no sender and no text")
            return IngestResult("failed", EX_DATAERR, inbound_id, reason="unusable message")
        if mail.bounce is not None:
            return await self._bounce(inbound_id, mail)
        if mail.auto_reply is not None:
            return await self._auto_reply(inbound_id, mail)
        if mail.from_address in self.own_addresses:
            await self._finish(inbound_id, "refused", "from our own address (loop)")
            return IngestResult("refused", EX_OK, inbound_id, reason="loop")
        recipients = [*envelope, *mail.recipients]
        approval = self._token(recipients, "godkann", "approve")
        if approval is not None:
            return await self._approval(inbound_id, mail, approval)
        appointment = self._token(recipients, "utse", "appoint")
        if appointment is not None:  # management names its coordinator: bot/cycle/appoint.py
            from bot.cycle.appoint import appointment_reply

            return await appointment_reply(self, inbound_id, mail, appointment)
        response_id = self._token(recipients, "svar", "reply")
        bad_token = response_id is None and any(_ADDRESS.match(a) for a in recipients)
        if response_id is None:
            response_id = await self._thread(mail)
        if response_id is None:
            if bad_token:
                await self._finish(inbound_id, "unmatched", "invalid token in the reply address")
                return IngestResult("unmatched", EX_NOUSER, inbound_id, reason="unknown recipient")
            await self._finish(
                inbound_id, "unmatched", "no token and no known thread", notice=("unmatched", mail, {})
            )
            return IngestResult("unmatched", EX_OK, inbound_id, reason="no response matches")
        if mail.authentication.failed:
            reason = f"authentication failed (spf={mail.authentication.spf}, dkim={mail.authentication.dkim}, dmarc={mail.authentication.dmarc})"
            await self._finish(inbound_id, "refused", reason, response_id=response_id)
            return IngestResult("refused", EX_OK, inbound_id, reason=reason)
        return await self._answer(inbound_id, mail, response_id, looked)

    def _token(self, recipients: Sequence[str], prefix: str, purpose: str) -> int | None:
        for address in recipients:
            m = _ADDRESS.match(address.strip().lower())
            if m and m.group(1).lower() == prefix:
                number = read_signed_token(self.secret, purpose, m.group(2))
                if number is not None:
                    return number
        return None

    async def _thread(self, mail: InboundMail) -> int | None:
        ids = [i for i in (mail.in_reply_to, *mail.references) if i]
        if not ids:
            return None
        async with self.db.transaction(readonly=True) as session:
            found = (
                await session.exec(
                    select(OutboxMessage.response_id)
                    .where(
                        col(OutboxMessage.message_id).in_(ids), col(OutboxMessage.response_id).is_not(None)
                    )
                    .limit(1)
                )
            ).first()
            if found is None:
                found = (
                    await session.exec(select(Response.id).where(col(Response.thread_id).in_(ids)).limit(1))
                ).first()
        return int(found) if found is not None else None

    async def _contacts(self, session: AsyncSession, organisation_id: int) -> list[Contact]:
        return list(
            (await session.exec(select(Contact).where(Contact.organisation_id == organisation_id))).all()
        )

    async def _answer(
        self, inbound_id: int, mail: InboundMail, response_id: int, looked: _Looked | None = None
    ) -> IngestResult:
        # the response, its organisation and the sender as a contact: one statement, read
        # with the raw message when that was for this response and this sender
        if looked is not None and (looked.response_id, looked.sender) == (response_id, mail.from_address):
            row = looked.row
        else:
            async with self.db.connection(readonly=True) as conn:
                row = await _look_up(conn, response_id, mail.from_address)
        if row is None:
            await self._finish(inbound_id, "unmatched", f"response {response_id} does not exist")
            return IngestResult("unmatched", EX_NOUSER, inbound_id)
        response, organisation, _ = parts_of(row)
        contact = from_row(Contact, row, "c__") if row.c__id is not None else None
        if contact is not None and not contact.active:
            contact = None
        if contact is None:
            domain = mail.from_address.rpartition("@")[2]
            domains = set(organisation.mail_domains.lower().split()) - _PUBLIC_WEBMAIL
            if domain and domain in domains:
                async with self.db.transaction(readonly=True) as session:
                    contacts = await self._contacts(session, response.organisation_id)
                return await self._hold(inbound_id, mail, response, organisation, contacts)
            reason = f"{mail.from_address} is not a contact of {organisation.name}"
            await self._finish(
                inbound_id,
                "refused",
                reason,
                response_id=response_id,
                organisation_id=organisation.id,
                notice=(
                    "refused_sender",
                    mail,
                    {"sender": mail.from_address, "organisation": organisation.name},
                ),
            )
            return IngestResult("refused", EX_OK, inbound_id, reason=reason)
        return await self._turn(inbound_id, mail, response, contact, row)

    async def _turn(
        self,
        inbound_id: int,
        mail: InboundMail,
        response: Response,
        contact: Contact,
        row: Any,  # the response as _LOOKUP read it, or None
    ) -> IngestResult:
        assert response.id is not None
        actor = Actor(
            contact.email,
            coordinator=contact.coordinator,
            respondent=contact.respondent,
            manager=contact.manager,
            language=contact.language,
        )
        turn = Turn(actor, "mail", now(), text=mail.answer_text)

        async def effects(session: AsyncSession, ctx: TurnContext, turn: Turn, step: Step) -> None:
            conn = await session.connection()
            marked = (
                await conn.execute(
                    _MARK_PROCESSED,
                    {
                        "inbound_id": inbound_id,
                        "response_id": ctx.response.id,
                        "organisation_id": ctx.organisation.id,
                        "processed_at": now(),
                    },
                )
            ).first()
            if marked is None:
                raise _AlreadyProcessed
            ctx = replace(ctx, inbound_message_id=marked.message_id)
            await self._attachments(session, inbound_id, ctx, mail, step)
            await self.effects(session, ctx, turn, step)

        try:
            outcome = await handle_turn(
                self.db,
                self.model,
                response.id,
                turn,
                effects=effects,
                contact=contact,
                inbound_id=inbound_id,
                row=row,
            )
        except _AlreadyProcessed:
            return IngestResult("duplicate", EX_OK, inbound_id, reason="processed by another process")
        return IngestResult("processed", EX_OK, inbound_id, step=outcome.step)

    async def _attachments(
        self, session: AsyncSession, inbound_id: int, ctx: TurnContext, mail: InboundMail, step: Step
    ) -> None:
        questions = " ".join(
            r.question for r in step.replies if isinstance(r, Recorded | ValueRecorded | Skipped)
        )
        for att in mail.attachments:
            if att.inline and att.content_type.startswith("image/"):
                continue  # signature logos and the like
            problem = None
            if att.size > self.attachment_limit:
                problem = gettext(
                    ctx.contact.language if ctx.contact else "sv",
                    "den är större än %(mb)s MB",
                    mb=f"{self.attachment_limit / 1_000_000:g}",
                )
            elif att.content_type.lower() not in self.attachment_types:
                problem = gettext(
                    ctx.contact.language if ctx.contact else "sv",
                    "filtypen %(t)s tas inte emot",
                    t=att.content_type,
                )
            if problem is None:
                session.add(
                    Attachment(
                        inbound_id=inbound_id,
                        response_id=ctx.response.id,
                        filename=(att.filename or "bilaga")[:300],
                        content_type=att.content_type,
                        size=att.size,
                        data=att.payload,
                        questions=questions,
                    )
                )
                continue
            lang = ctx.contact.language if ctx.contact else "sv"
            msg = new_message(
                self.settings,
                to=mail.from_address,
                lang=lang,
                response=ctx.response,
                auto="auto-replied",
                subject=gettext(lang, "Bilagan sparades inte"),
            )
            set_text_bodies(
                msg,
                _notices.get_template("notice.txt.j2").render(
                    kind="attachment_refused",
                    lang=lang,
                    authority=self.settings.authority_name,
                    filename=att.filename or "bilaga",
                    reason=problem,
                ),
                lang=lang,
                title=str(msg["Subject"]),
            )
            await enqueue(
                session,
                msg,
                key=f"attachment:{inbound_id}:{att.filename}:{att.size}",
                kind="notice",
                response_id=ctx.response.id,
            )

    # ------------------------------------------------------------------ held messages

    async def _hold(
        self,
        inbound_id: int,
        mail: InboundMail,
        response: Response,
        organisation: Organisation,
        contacts: list[Contact],
    ) -> IngestResult:
        coordinators = [c for c in contacts if c.coordinator and c.active]
        reason = f"{mail.from_address} is not a contact but writes from {organisation.name}'s domain: waiting for approval"
        async with self.db.transaction() as session:
            if not await self._mark(session, inbound_id, "held", reason, response.id, organisation.id):
                return IngestResult("duplicate", EX_OK, inbound_id)
            token = signed_token(self.secret, "approve", inbound_id)
            for coordinator in coordinators:
                lang = coordinator.language
                msg = new_message(
                    self.settings,
                    to=coordinator.email,
                    lang=lang,
                    response=response,
                    subject=gettext(lang, "Godkänn svar från %(c)s", c=mail.from_address),
                )
                del msg["Reply-To"]
                msg["Reply-To"] = f"godkann+{token}@{self.settings.reply_domain}"
                set_text_bodies(
                    msg,
                    _notices.get_template("notice.txt.j2").render(
                        kind="held_for_coordinator",
                        lang=lang,
                        authority=self.settings.authority_name,
                        colleague=mail.from_address,
                        organisation=organisation.name,
                        answer_text=mail.answer_text.strip(),
                    ),
                    lang=lang,
                    title=str(msg["Subject"]),
                )
                await enqueue(
                    session,
                    msg,
                    key=f"held:{inbound_id}:{coordinator.email}",
                    kind="approval",
                    response_id=response.id,
                )
            await self._notice(
                session, "held_for_colleague", mail, {"organisation": organisation.name}, inbound_id, response
            )
        return IngestResult("held", EX_OK, inbound_id, reason=reason)

    async def _approval(self, inbound_id: int, mail: InboundMail, held_id: int) -> IngestResult:
        async with self.db.transaction(readonly=True) as session:
            held = await session.get(InboundMessage, held_id)
            response = await session.get(Response, held.response_id) if held and held.response_id else None
            contacts = await self._contacts(session, response.organisation_id) if response else []
        if held is None or response is None:
            await self._finish(inbound_id, "refused", "approval for an unknown message")
            return IngestResult("refused", EX_OK, inbound_id)
        approver = next(
            (c for c in contacts if c.email == mail.from_address and c.coordinator and c.active), None
        )
        if approver is None:
            await self._finish(
                inbound_id, "refused", f"{mail.from_address} may not approve", response_id=response.id
            )
            return IngestResult("refused", EX_OK, inbound_id)
        text = mail.answer_text
        if held.status != "held":
            await self._finish(
                inbound_id,
                "processed",
                f"approval for message {held_id}, already {held.status}",
                response_id=response.id,
            )
            return IngestResult("processed", EX_OK, inbound_id, reason=f"already {held.status}")
        if _REJECT.search(text) and not _APPROVE.search(text):
            async with self.db.transaction() as session:
                await self._mark(
                    session,
                    held_id,
                    "refused",
                    f"rejected by {approver.email}",
                    response.id,
                    response.organisation_id,
                    status_from="held",
                )
                await self._mark(
                    session,
                    inbound_id,
                    "processed",
                    f"rejected message {held_id}",
                    response.id,
                    response.organisation_id,
                )
                held_mail = read_message(held.raw)
                await self._notice(
                    session, "held_rejected", held_mail, {"organisation": ""}, held_id, response
                )
            return IngestResult("processed", EX_OK, inbound_id, reason="rejected")
        if not _APPROVE.search(text):
            async with self.db.transaction() as session:
                await self._mark(
                    session,
                    inbound_id,
                    "processed",
                    "approval unclear",
                    response.id,
                    response.organisation_id,
                )
                await self._notice(session, "approval_unclear", mail, {}, inbound_id, response)
            return IngestResult("processed", EX_OK, inbound_id, reason="unclear")
        held_mail = read_message(held.raw)
        async with self.db.transaction() as session:
            colleague = Contact(
                organisation_id=response.organisation_id,
                email=held_mail.from_address,
                name=held_mail.from_name,
                respondent=True,
                language=approver.language,
            )
            session.add(colleague)
            await session.flush()
            await session.exec(
                INBOUND.update()
                .where(INBOUND.c.id == held_id, INBOUND.c.status == "held")
                .values(status="received")
            )
            await self._mark(
                session,
                inbound_id,
                "processed",
                f"approved message {held_id}",
                response.id,
                response.organisation_id,
            )
            session.add(
                _audit(
                    approver.email,
                    "contact.approved",
                    response,
                    {"email": colleague.email, "inbound": held_id},
                )
            )
        return await self._turn(held_id, held_mail, response, colleague, None)

    # ------------------------------------------------------------------ automatic mail

    async def _bounce(self, inbound_id: int, mail: InboundMail) -> IngestResult:
        assert mail.bounce is not None
        failed = [
            r
            for r in mail.bounce.recipients
            if r.action in ("failed", "") or (r.status or "").startswith("5")
        ]
        async with self.db.transaction() as session:
            if not await self._mark(
                session, inbound_id, "bounce", "; ".join(f"{r.address}: {r.status}" for r in failed)
            ):
                return IngestResult("duplicate", EX_OK, inbound_id)
            for r in failed:
                address = r.address.lower()
                contacts = (await session.exec(select(Contact).where(Contact.email == address))).all()
                for contact in contacts:
                    if contact.failing_since is None:
                        contact.failing_since = now()
                        session.add(contact)
                if mail.bounce.original_message_id:
                    await session.exec(
                        sa.update(table_of(OutboxMessage))
                        .where(sa.column("message_id") == mail.bounce.original_message_id)
                        .values(status="failed", last_error=f"bounced: {r.status} {r.diagnostic or ''}"[:500])
                    )
                await self._tell_about_bounce(
                    session, inbound_id, address, r.diagnostic or r.status or "", contacts
                )
        return IngestResult("bounce", EX_OK, inbound_id)

    async def _tell_about_bounce(
        self,
        session: AsyncSession,
        inbound_id: int,
        address: str,
        diagnostic: str,
        contacts: Sequence[Contact],
    ) -> None:
        told: set[str] = set()
        for contact in contacts:
            others = [
                c
                for c in await self._contacts(session, contact.organisation_id)
                if c.coordinator and c.active and c.email != address and c.failing_since is None
            ]
            for other in others:
                if other.email in told:
                    continue
                told.add(other.email)
                await self._send_notice(
                    session,
                    other.email,
                    other.language,
                    "bounce",
                    {"address": address, "diagnostic": diagnostic},
                    f"bounce:{inbound_id}:{other.email}",
                )
        if not told:
            admins = (await session.exec(select(Administrator))).all()
            for admin in admins:
                await self._send_notice(
                    session,
                    admin.email,
                    admin.language,
                    "bounce",
                    {"address": address, "diagnostic": diagnostic},
                    f"bounce:{inbound_id}:{admin.email}",
                )

    async def _auto_reply(self, inbound_id: int, mail: InboundMail) -> IngestResult:
        async with self.db.transaction() as session:
            if not await self._mark(session, inbound_id, "auto_reply", mail.auto_reply or ""):
                return IngestResult("duplicate", EX_OK, inbound_id)
            if mail.return_date is not None and mail.from_address:
                from datetime import UTC, datetime, time

                back = datetime.combine(mail.return_date, time(8, 0), tzinfo=UTC)
                for contact in (
                    await session.exec(select(Contact).where(Contact.email == mail.from_address))
                ).all():
                    contact.away_until = back
                    session.add(contact)
        return IngestResult("auto_reply", EX_OK, inbound_id, reason=mail.auto_reply or "")

    # ------------------------------------------------------------------ helpers

    async def _mark(
        self,
        session: AsyncSession,
        inbound_id: int,
        status: str,
        reason: str,
        response_id: int | None = None,
        organisation_id: int | None = None,
        status_from: str = "received",
    ) -> bool:
        done = await session.exec(
            INBOUND.update()
            .where(INBOUND.c.id == inbound_id, INBOUND.c.status == status_from)
            .values(
                status=status,
                reason=reason[:2000],
                response_id=response_id,
                organisation_id=organisation_id,
                processed_at=now(),
            )
        )
        return bool(done.rowcount)

    async def _finish(
        self,
        inbound_id: int,
        status: str,
        reason: str,
        *,
        response_id: int | None = None,
        organisation_id: int | None = None,
        notice: tuple[str, InboundMail, dict[str, Any]] | None = None,
    ) -> None:
        async with self.db.transaction() as session:
            if await self._mark(session, inbound_id, status, reason, response_id, organisation_id) and notice:
                kind, mail, values = notice
                await self._notice(session, kind, mail, values, inbound_id, None)

    async def _notice(
        self,
        session: AsyncSession,
        kind: str,
        mail: InboundMail,
        values: dict[str, Any],
        inbound_id: int,
        response: Response | None,
    ) -> None:
        """Answer the sender of ``mail`` with a notice, unless that would loop."""
        if not mail.from_address or mail.from_address in self.own_addresses or mail.auto_reply or mail.bounce:
            return
        await self._send_notice(
            session,
            mail.from_address,
            "sv",
            kind,
            values,
            f"notice:{kind}:{inbound_id}",
            response,
            in_reply_to=mail.message_id,
        )

    async def _send_notice(
        self,
        session: AsyncSession,
        to: str,
        lang: str,
        kind: str,
        values: dict[str, Any],
        key: str,
        response: Response | None = None,
        in_reply_to: str | None = None,
    ) -> None:
        subjects = {
            "unmatched": "Vi kunde inte koppla ditt meddelande till ett svar",
            "refused_sender": "Ditt meddelande registrerades inte",
            "held_for_colleague": "Dina svar väntar på godkännande",
            "held_rejected": "Dina svar avvisades",
            "approval_unclear": "Godkänn eller avvisa?",
            "bounce": "Ett mejl kunde inte levereras",
        }
        msg = new_message(
            self.settings,
            to=to,
            lang=lang,
            response=response,
            auto="auto-replied",
            subject=gettext(lang, subjects.get(kind, "Meddelande från uppföljningen")),
            in_reply_to=in_reply_to,
        )
        set_text_bodies(
            msg,
            _notices.get_template("notice.txt.j2").render(
                kind=kind, lang=lang, authority=self.settings.authority_name, **values
            ),
            lang=lang,
            title=str(msg["Subject"]),
        )
        await enqueue(session, msg, key=key, kind="notice", response_id=response.id if response else None)


class _Duplicate(Exception):
    pass


def _audit(actor: str, action: str, response: Response, details: dict[str, Any]) -> Any:
    from bot.db.tables import AuditEntry

    return AuditEntry(
        actor=actor,
        action=action,
        organisation_id=response.organisation_id,
        response_id=response.id,
        details=details,
    )
