"""Seeding a test database: an organisation with contacts, a cycle and a response."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, Response
from conversations.questionnaire import Model
from conversations.state import Actor


@dataclass(frozen=True)
class Seeded:
    organisation_id: int
    cycle_id: int
    response_id: int
    coordinator: Contact
    respondent: Contact
    manager: Contact


def actor(contact: Contact) -> Actor:
    return Actor(
        contact.email,
        coordinator=contact.coordinator,
        respondent=contact.respondent,
        manager=contact.manager,
        language=contact.language,
    )


async def seed(
    db: Database,
    model: Model,
    *,
    name: str = "Exempelby kommun",
    orgnr: str = "2120000142",
    domain: str = "exempelby.se",
    cycle: str = "2027",
    language: str = "sv",
) -> Seeded:
    async with db.transaction() as s:
        org = Organisation(name=name, type="kommun", orgnr=orgnr, mail_domains=domain)
        s.add(org)
        await s.flush()
        assert org.id is not None
        coordinator = Contact(
            organisation_id=org.id,
            email=f"anna@{domain}",
            name="Anna Andersson",
            coordinator=True,
            respondent=True,
            language=language,
        )
        respondent = Contact(
            organisation_id=org.id, email=f"bo@{domain}", name="Bo Berg", respondent=True, language=language
        )
        manager = Contact(
            organisation_id=org.id,
            email=f"chef@{domain}",
            name="Cecilia Chef",
            manager=True,
            language=language,
        )
        s.add_all([coordinator, respondent, manager])
        c = (await s.exec(__import__("sqlmodel").select(Cycle).where(Cycle.name == cycle))).first()
        if c is None:
            c = Cycle(
                name=cycle,
                launch=date(2027, 3, 1),
                deadline=date(2027, 10, 31),
                model_id=model.id,
                model_version=model.version,
            )
            s.add(c)
            await s.flush()
        assert c.id is not None
        response = Response(
            organisation_id=org.id, cycle_id=c.id, model_id=model.id, model_version=model.version
        )
        s.add(response)
        await s.flush()
        assert response.id is not None
        return Seeded(org.id, c.id, response.id, coordinator, respondent, manager)
