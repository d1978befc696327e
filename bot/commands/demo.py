"""``assessbot demo``: a newcomer's tour of the whole mail-and-chat journey in one browser.

On the embedded default (SQLite ``./assessbot.db``, mail captured in the Maildir
``./var/outbox``) it brings the schema up to date, seeds — once; running it again reuses
what is there — a demo organisation "Demo kommun" with a coordinator, a respondent, a
manager and an administrator of the coordinating authority, a cycle launched today, and
starts the organisation's response (the first section is mailed). Then it serves the web
chat with the outbox sender writing every mail to the Maildir, and ``/demo/post`` shows
those mails, so that signing in, answering in the chat, replying by mail and reading the
receipts can all be done without an SMTP server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from datetime import date, timedelta

from aiohttp import web
from sqlmodel import select

from bot.app import create_app, settle_memory
from bot.commands.common import error, shown_url
from bot.db import migrate
from bot.db.database import Database
from bot.db.tables import Administrator, Contact, Cycle, Organisation, Response
from bot.event_loop import new_event_loop
from bot.mail.compose import section_mail
from bot.mail.outbox import enqueue
from bot.settings import Settings
from conversations.questionnaire import Model, load_model

ORGANISATION = "Demo kommun"
COORDINATOR = "demo.samordnare@demo.example"
CONTACTS = (
    # email, name, coordinator, respondent, manager
    (COORDINATOR, "Sam Samordnare", True, True, False),
    ("demo.respondent@demo.example", "Rut Respondent", False, True, False),
    ("demo.chef@demo.example", "Chris Chef", False, False, True),
)
ADMINISTRATOR = "demo.admin@demo.example"


@dataclass(frozen=True, slots=True)
class Seeded:
    organisation: str
    cycle: str
    response_id: int
    created: bool


async def seed_demo(db: Database, settings: Settings, model: Model, today: date | None = None) -> Seeded:
    """Create the demo organisation, contacts, administrator, cycle and response unless they exist."""
    today = today or date.today()
    async with db.transaction() as session:
        org = (await session.exec(select(Organisation).where(Organisation.name == ORGANISATION))).first()
        if org is None:
            org = Organisation(name=ORGANISATION, type="kommun", mail_domains="demo.example")
            session.add(org)
            await session.flush()
        assert org.id is not None
        existing = {
            c.email for c in (await session.exec(select(Contact).where(Contact.organisation_id == org.id)))
        }
        for email, name, coordinator, respondent, manager in CONTACTS:
            if email not in existing:
                session.add(
                    Contact(
                        organisation_id=org.id,
                        email=email,
                        name=name,
                        coordinator=coordinator,
                        respondent=respondent,
                        manager=manager,
                    )
                )
        if (
            await session.exec(select(Administrator).where(Administrator.email == ADMINISTRATOR))
        ).first() is None:
            session.add(Administrator(email=ADMINISTRATOR, name="Ada Administratör"))
        cycle = (
            await session.exec(select(Cycle).where(Cycle.model_id == model.id).order_by(Cycle.launch.desc()))  # type: ignore[attr-defined]
        ).first()
        if cycle is None:
            cycle = Cycle(
                name=f"Demo {today.year}",
                launch=today,
                deadline=today + timedelta(days=213),
                model_id=model.id,
                model_version=model.version,
                status="launched",
            )
            session.add(cycle)
            await session.flush()
        assert cycle.id is not None
        response = (
            await session.exec(
                select(Response).where(Response.organisation_id == org.id, Response.cycle_id == cycle.id)
            )
        ).first()
        created = response is None
        if response is None:
            response = Response(
                organisation_id=org.id, cycle_id=cycle.id, model_id=model.id, model_version=model.version
            )
            session.add(response)
            await session.flush()
            coordinators = (
                await session.exec(
                    select(Contact).where(Contact.organisation_id == org.id, Contact.coordinator == True)  # noqa: E712
                )
            ).all()
            for contact in coordinators:
                msg = section_mail(
                    settings,
                    model,
                    response=response,
                    organisation=org,
                    cycle=cycle,
                    contact=contact,
                    index=0,
                    answers={},
                )
                if response.thread_id is None:
                    response.thread_id = str(msg["Message-ID"])
                await enqueue(
                    session,
                    msg,
                    key=f"section:{response.id}:{model.sections[0].id}:start:{contact.email}",
                    kind="section",
                    response_id=response.id,
                )
            response.sections_sent = model.sections[0].id
            session.add(response)
        assert response.id is not None
        return Seeded(org.name, cycle.name, response.id, created)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    base = f"http://{args.host}:{args.port}"
    if "ASSESSBOT_BASE_URL" not in os.environ:
        settings = settings.model_copy(update={"base_url": base})
    try:
        _before, after = migrate.upgrade(settings.database_url)
    except Exception as exc:
        error(f"kan inte förbereda databasen {shown_url(settings.database_url)}: {exc}")
        return 1
    model = load_model(settings.model_path or None)

    async def prepare() -> Seeded:
        db = Database(settings.database_url)
        try:
            return await seed_demo(db, settings, model)
        finally:
            await db.dispose()

    seeded = asyncio.run(prepare())
    app = create_app(settings, demo=True, sender_poll=1.0)
    app.on_startup.append(settle_memory)
    print(
        f"""assessbot demo: {seeded.organisation}, omgång {seeded.cycle}, svar {seeded.response_id}
  databas: {shown_url(settings.database_url)}   (schema {after})
  e-post:  skickas inte på riktigt utan sparas i {settings.var_dir}/outbox

Så här gör du först:
  1. Öppna {base}/ och logga in som samordnaren {COORDINATOR}.
  2. Inloggningsmejlet (och allt annat som skickas) visas på {base}/demo/post.
  3. Svara på frågorna i chatten, eller svara på avsnittsmejlet direkt på /demo/post.
Fler demokonton: demo.respondent@demo.example (svarar), demo.chef@demo.example (läser),
{ADMINISTRATOR} (administratör, ser alla organisationer).
Avsluta med Ctrl+C.""",
        flush=True,
    )
    web.run_app(app, host=args.host, port=args.port, print=None, loop=new_event_loop())
    return 0
