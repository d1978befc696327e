"""Launching a cycle: the first mail to every organisation in scope, once.

For each organisation (all of them, or those of the given types): when it has a
coordinator whose address works, its response is started and the first section goes to
the coordinators (:func:`bot.responses.start_response`); otherwise each member of its
management gets a letter asking them to appoint a coordinator by replying with the
coordinator's address (``bot.cycle.appoint`` reads the reply). The letter is recorded as a
``reminders`` row (step ``launch``) under the plan's unique key, so it goes out once; a
started response is never started again. Launching again (after a crash, for another
organisation type, after new organisations were registered) sends only what has not gone
yet. The cycle is ``launched`` from the first launch on, with that moment in
``launched_at``.

Organisations are handled in batches, each in its own transaction: every batch is
complete (responses, mails, audit) or not there at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from markupsafe import escape
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cycle.times import closes_at, local_day, zone
from bot.db.database import Database
from bot.db.tables import AuditEntry, Contact, Cycle, Organisation, Response
from bot.mail.compose import new_message, section_mail
from bot.mail.outbox import enqueue
from bot.mail.render import attach_bodies
from bot.reminders.mail import cycle_message
from bot.reminders.run import REMINDERS
from bot.settings import Settings
from conversations.questionnaire import Model

BATCH = 50


class CycleError(Exception):
    """The cycle cannot be changed like this (message in Swedish, for the user)."""


@dataclass
class LaunchReport:
    cycle: str
    started: list[str] = field(default_factory=list)  # responses started now (first section sent)
    letters: list[str] = field(default_factory=list)  # management asked to appoint a coordinator now
    already: list[str] = field(default_factory=list)  # had a response or a letter already
    nobody: list[str] = field(default_factory=list)  # no coordinator and no management to write to
    queued: int = 0


def reachable(contacts: Sequence[Contact], role: str) -> list[Contact]:
    """Active contacts with ``role`` whose address does not bounce."""
    return [c for c in contacts if getattr(c, role) and c.active and c.failing_since is None]


async def get_cycle(session: AsyncSession, name: str) -> Cycle:
    cycle = (await session.exec(select(Cycle).where(Cycle.name == name))).first()
    if cycle is None:
        raise CycleError(f"ingen omgång heter {name!r}")
    return cycle


async def launch_cycle(
    db: Database,
    settings: Settings,
    model: Model,
    name: str,
    *,
    now: datetime,
    types: Sequence[str] = (),
    actor: str = "cli",
    batch: int = BATCH,
) -> LaunchReport:
    """Launch cycle ``name`` at ``now`` for every organisation (of ``types``, when given).

    Raises:
        CycleError: no such cycle, closed, past its deadline, or made with another model.
    """
    tz = zone(settings.timezone)
    async with db.transaction() as session:
        cycle = await get_cycle(session, name)
        if cycle.status == "closed":
            raise CycleError(f"omgången {name} är stängd")
        if now >= closes_at(cycle.deadline, tz):
            raise CycleError(f"sista svarsdag för omgången {name} ({cycle.deadline}) har passerat")
        if cycle.model_id != model.id:
            raise CycleError(f"omgången {name} använder modellen {cycle.model_id}, inte {model.id}")
        if cycle.status == "planned":
            cycle.status, cycle.launched_at = "launched", now
            session.add(cycle)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="cycle.launch",
                details={"cycle_id": cycle.id, "name": name, "types": list(types) or "all"},
            )
        )
        query = select(Organisation.id).order_by(col(Organisation.id))
        if types:
            query = query.where(col(Organisation.type).in_(list(types)))
        org_ids = [i for i in (await session.exec(query)).all() if i is not None]
    report = LaunchReport(name)
    first = FirstSection(settings, model, cycle)
    for start in range(0, len(org_ids), batch):
        async with db.transaction() as session:
            chunk = org_ids[start : start + batch]
            await _launch_batch(session, settings, model, cycle, chunk, now, actor, report, first)
    return report


async def _launch_batch(
    session: AsyncSession,
    settings: Settings,
    model: Model,
    cycle: Cycle,
    org_ids: Sequence[int],
    now: datetime,
    actor: str,
    report: LaunchReport,
    first: FirstSection,
) -> None:
    assert cycle.id is not None
    organisations = (await session.exec(select(Organisation).where(col(Organisation.id).in_(org_ids)))).all()
    people: dict[int, list[Contact]] = defaultdict(list)
    for c in (await session.exec(select(Contact).where(col(Contact.organisation_id).in_(org_ids)))).all():
        people[c.organisation_id].append(c)
    started = set(
        (
            await session.exec(
                select(Response.organisation_id).where(
                    Response.cycle_id == cycle.id, col(Response.organisation_id).in_(org_ids)
                )
            )
        ).all()
    )
    today = local_day(now, zone(settings.timezone))
    to_start: list[tuple[Organisation, list[Contact], Response]] = []
    for org in sorted(organisations, key=lambda o: o.id or 0):
        assert org.id is not None
        contacts = people.get(org.id, [])
        if org.id in started:
            report.already.append(org.name)
        elif coordinators := reachable(contacts, "coordinator"):
            response = Response(
                organisation_id=org.id,
                cycle_id=cycle.id,
                model_id=model.id,
                model_version=model.version,
                created_at=now,  # the plan counts from the invitation
            )
            to_start.append((org, coordinators, response))
        elif managers := reachable(contacts, "manager"):
            sent = 0
            for manager in managers:
                if await claim_letter(session, cycle, org, manager, now):
                    msg = cycle_message(
                        settings, model, "launch", contact=manager, organisation=org, cycle=cycle, today=today
                    )
                    key = f"{cycle.id}:{org.id}:{manager.id}:launch"
                    sent += await enqueue(session, msg, key=f"reminder:{key}", kind="launch")
            (report.letters if sent else report.already).append(org.name)
            report.queued += sent
        else:
            report.nobody.append(org.name)
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor,
                    action="cycle.launch.nobody",
                    organisation_id=org.id,
                    details={"cycle_id": cycle.id},
                )
            )
    session.add_all([response for _, _, response in to_start])
    await session.flush()  # one round trip for the batch's responses and their ids
    for org, coordinators, response in to_start:
        report.queued += await _start(session, model, org, coordinators, response, actor, first)
        report.started.append(org.name)


async def _start(
    session: AsyncSession,
    model: Model,
    org: Organisation,
    coordinators: Sequence[Contact],
    response: Response,
    actor: str,
    first: FirstSection,
) -> int:
    """What :func:`bot.responses.start_response` does for a new response, with the mail from
    :class:`FirstSection`: the first section to each coordinator under the same keys."""
    assert response.id is not None
    queued = 0
    for contact in coordinators:
        msg = first.message(response, org, contact)
        if response.thread_id is None:
            response.thread_id = str(msg["Message-ID"])
        key = f"section:{response.id}:{model.sections[0].id}:start:{contact.email}"
        queued += await enqueue(session, msg, key=key, kind="section", response_id=response.id)
    response.sections_sent = model.sections[0].id
    session.add(response)
    session.add(
        AuditEntry(
            actor=actor,
            action="response.started",
            organisation_id=org.id,
            response_id=response.id,
            details={"channel": "mail", "via": "launch"},
        )
    )
    return queued


class FirstSection:
    """The first section mail, rendered once per language and filled in per organisation.

    Rendering a section (Markdown, sanitising, CSS inlining) is most of the cost of a
    launch, and the first section is the same for every organisation but for its name. So
    :func:`bot.mail.compose.section_mail` renders it once per language for a stand-in
    organisation whose name is a token that passes unchanged through Markdown, the
    sanitiser and the CSS inliner; each organisation's mail gets its own headers (reply
    address, Message-ID) from :func:`bot.mail.compose.new_message` and the bodies with its
    name put in place of the token (HTML-escaped in the HTML part). The result is the mail
    ``section_mail`` makes for that organisation (the tests compare the two).
    """

    TOKEN = "Zq7OrganisationZq7"

    def __init__(self, settings: Settings, model: Model, cycle: Cycle) -> None:
        self.settings, self.model, self.cycle = settings, model, cycle
        self._rendered: dict[str, tuple[str, str, str] | None] = {}

    def _render(self, lang: str) -> tuple[str, str, str] | None:
        stand_in = Organisation(name=self.TOKEN, type="kommun")
        msg = section_mail(
            self.settings,
            self.model,
            response=Response(organisation_id=0, cycle_id=0, model_id=self.model.id, model_version=""),
            organisation=stand_in,
            cycle=self.cycle,
            contact=Contact(organisation_id=0, email="stand-in@invalid", language=lang),
            index=0,
            answers={},
        )
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        if text is None or html is None:
            return None
        subject = str(msg["Subject"])
        text_body, html_body = text.get_content(), html.get_content()
        if self.TOKEN in subject or self.TOKEN not in text_body or self.TOKEN not in html_body:
            return None  # the template changed shape: render each mail in full
        return subject, text_body, html_body

    def message(self, response: Response, organisation: Organisation, contact: Contact) -> EmailMessage:
        lang = contact.language if contact.language in self.model.languages else self.model.default_language
        if lang not in self._rendered:
            self._rendered[lang] = self._render(lang)
        rendered = self._rendered[lang]
        if rendered is None:
            return section_mail(
                self.settings,
                self.model,
                response=response,
                organisation=organisation,
                cycle=self.cycle,
                contact=contact,
                index=0,
                answers={},
            )
        subject, text, html = rendered
        msg = new_message(self.settings, to=contact.email, subject=subject, lang=lang, response=response)
        attach_bodies(
            msg,
            text.replace(self.TOKEN, organisation.name),
            html.replace(self.TOKEN, str(escape(organisation.name))),
        )
        return msg


async def claim_letter(
    session: AsyncSession, cycle: Cycle, org: Organisation, contact: Contact, at: datetime
) -> bool:
    """Record the launch letter to ``contact``; False when it was recorded before."""
    insert = (
        pg_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert
    )
    stmt = (
        insert(REMINDERS)
        .values(
            cycle_id=cycle.id,
            organisation_id=org.id,
            contact_id=contact.id,
            response_id=None,
            step="launch",
            kind="launch",
            recipient=contact.email,
            due_at=at,
            status="sent",
            reason="",
            created_at=at,
            sent_at=at,
        )
        .on_conflict_do_nothing(index_elements=["cycle_id", "organisation_id", "contact_id", "step"])
    )
    return bool((await session.exec(stmt)).rowcount)
