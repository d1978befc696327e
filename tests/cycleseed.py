"""Seeding for the cycle tests: organisations with coordinators and management, a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, OutboxMessage, Reminder, Response
from bot.settings import Settings
from conversations.questionnaire import Model

TZ = ZoneInfo("Europe/Stockholm")
LAUNCH_DAY, DEADLINE = date(2027, 3, 1), date(2027, 10, 29)


def at(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def settings_for(tmp_path: Path, db: Database | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {
        "secret_key": "cycle-tests",
        "var_dir": str(tmp_path),
        "reply_domain": "svar.example.se",
        "mail_from": "Infosäkkollen <infosakkollen@example.se>",
        "base_url": "https://infosak.example.se",
        **extra,
    }
    if db is not None:
        values["database_url"] = db.url
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Org:
    id: int
    name: str
    coordinator: str | None
    manager: str | None


async def organisations(
    db: Database,
    model: Model,
    n: int = 3,
    *,
    manager_only: tuple[int, ...] = (),
    nobody: tuple[int, ...] = (),
    types: tuple[str, ...] = ("kommun", "region", "myndighet"),
    language: str = "sv",
    cycle: bool = True,
) -> list[Org]:
    """``n`` organisations: a coordinator (``samordnare@orgI.se``) and a manager (``chef@orgI.se``) each,
    except those in ``manager_only`` (no coordinator) and ``nobody`` (no contacts); and cycle 2027."""
    out = []
    async with db.transaction() as s:
        for i in range(n):
            org = Organisation(
                name=f"Organisation {i}", type=types[i % len(types)], mail_domains=f"org{i}.se"
            )
            s.add(org)
            await s.flush()
            assert org.id is not None
            coordinator = manager = None
            if i not in nobody:
                if i not in manager_only:
                    coordinator = f"samordnare@org{i}.se"
                    s.add(Contact(organisation_id=org.id, email=coordinator, coordinator=True, respondent=True,
                                  language=language))  # fmt: skip
                manager = f"chef@org{i}.se"
                s.add(Contact(organisation_id=org.id, email=manager, manager=True, language=language))
            out.append(Org(org.id, org.name, coordinator, manager))
        if cycle:
            s.add(Cycle(name="2027", launch=LAUNCH_DAY, deadline=DEADLINE, model_id=model.id,
                        model_version=model.version))  # fmt: skip
    return out


async def outbox(db: Database, kind: str | None = None) -> list[OutboxMessage]:
    async with db.transaction(readonly=True) as s:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list((await s.exec(query)).all())


async def reminders(db: Database) -> list[Reminder]:
    async with db.transaction(readonly=True) as s:
        return list((await s.exec(select(Reminder).order_by(col(Reminder.id)))).all())


async def response_of(db: Database, org_id: int) -> Response | None:
    async with db.transaction(readonly=True) as s:
        return (await s.exec(select(Response).where(Response.organisation_id == org_id))).first()


def parsed(row: OutboxMessage) -> EmailMessage:
    return message_from_bytes(row.message, policy=default)  # type: ignore[return-value]


def text_of(row: OutboxMessage) -> str:
    body = parsed(row).get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def html_of(row: OutboxMessage) -> str:
    body = parsed(row).get_body(("html",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]
