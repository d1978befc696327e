"""The stored data: one SQLModel table class per thing the service keeps.

Organisations and their contacts, cycles, responses (organisation × cycle × model
version) with their answers and every revision of them, every inbound message as it
arrived, the outbox, access tokens and the audit log. Times are stored in UTC and read
back time-zone aware on SQLite and PostgreSQL alike (:class:`UTCDateTime`).

The schema is created and changed only by the Alembic migrations in ``bot/db/migrations``;
``assessbot db upgrade`` applies them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned time-zone aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    """A UTC timestamp column; a required one defaults to the moment the row is made."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime(), nullable=True, index=index)
    return Field(default_factory=now, sa_type=UTCDateTime(), nullable=False, index=index)


# Constraint and index names are derived, so that migrations can name (and later drop)
# every one of them on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORG_TYPES = ("kommun", "region", "myndighet")
RESPONSE_STATUSES = ("invited", "in_progress", "completed", "submitted", "closed")


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    type: str = Field(index=True)  # kommun | region | myndighet
    orgnr: str | None = Field(default=None, unique=True)  # Swedish organisation number, 10 digits
    county: str | None = Field(default=None, index=True)  # län
    size_class: str | None = Field(default=None, index=True)
    mail_domains: str = ""  # space-separated domains whose colleagues may be held for approval
    created_at: datetime | None = _ts(nullable=False)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    email: str = Field(index=True)  # lower case
    name: str = ""
    language: str = "sv"
    coordinator: bool = False
    respondent: bool = False
    manager: bool = False
    active: bool = True
    failing_since: datetime | None = _ts()  # set by a bounce; no reminders while set
    away_until: datetime | None = _ts()  # from an out-of-office reply
    reminders_paused: bool = False
    reminders_paused_at: datetime | None = _ts()  # when "pausa" was received: lasts for that cycle
    created_at: datetime | None = _ts(nullable=False)

    @property
    def roles(self) -> list[str]:
        return [r for r in ("coordinator", "respondent", "manager") if getattr(self, r)]

    @property
    def may_answer(self) -> bool:
        return self.active and (self.coordinator or self.respondent)


class Administrator(SQLModel, table=True):
    """A person of the coordinating authority: sees every organisation, answers nothing."""

    __tablename__ = "administrators"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    name: str = ""
    language: str = "sv"
    created_at: datetime | None = _ts(nullable=False)


class Cycle(SQLModel, table=True):
    __tablename__ = "cycles"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    launch: date
    deadline: date
    model_id: str
    model_version: str
    status: str = "planned"  # planned | launched | closed
    created_at: datetime | None = _ts(nullable=False)
    launched_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()


class Response(SQLModel, table=True):
    """One organisation's answer to one cycle: one conversation over every channel."""

    __tablename__ = "responses"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "cycle_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    cycle_id: int = Field(foreign_key="cycles.id", index=True)
    model_id: str
    model_version: str
    status: str = Field(default="invited", index=True)
    version: int = 0  # optimistic concurrency: bumped by every stored turn
    section: int = 0  # index of the section the conversation is at
    sections_sent: str = ""  # space-separated section ids already mailed
    thread_id: str | None = None  # Message-ID of the first mail, for threading
    score: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime | None = _ts(nullable=False)
    started_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    submitted_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()
    last_activity_at: datetime | None = _ts()
    reopened_until: date | None = None  # reopened after the deadline: closes again after this day


class Answer(SQLModel, table=True):
    """The current answer to one question (level-grounding or validation) of a response."""

    __tablename__ = "answers"
    __table_args__ = (sa.UniqueConstraint("response_id", "question"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="responses.id", index=True)
    question: str
    options: str = ""  # letters, space-separated, display order
    value: str | None = None  # validation questions
    certain: bool | None = None
    comment: str | None = None
    skipped: bool = False  # left unanswered on purpose
    by: str = ""  # e-mail address of who answered
    channel: str = ""  # mail | web | cli
    at: datetime | None = _ts(nullable=False)
    revision: int = 1


class AnswerRevision(SQLModel, table=True):
    """Every version of every answer, in order; never updated or deleted."""

    __tablename__ = "answer_revisions"

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="responses.id", index=True)
    question: str
    revision: int
    options: str = ""
    value: str | None = None
    certain: bool | None = None
    comment: str | None = None
    skipped: bool = False
    by: str = ""
    channel: str = ""
    at: datetime | None = _ts(nullable=False)
    inbound_id: int | None = Field(default=None, foreign_key="inbound_messages.id")


class InboundMessage(SQLModel, table=True):
    """An inbound mail exactly as it arrived, stored before anything else is done with it."""

    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True)  # the Message-ID header (or a digest when missing)
    raw: bytes = Field(sa_type=sa.LargeBinary)
    via: str = ""  # pipe | lmtp | smtp | imap
    sender: str = ""
    recipient: str = ""
    subject: str = ""
    received_at: datetime | None = _ts(nullable=False, index=True)
    status: str = Field(default="received", index=True)
    # received | processed | held | refused | unmatched | auto_reply | bounce | failed
    reason: str = ""
    response_id: int | None = Field(default=None, foreign_key="responses.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    processed_at: datetime | None = _ts()


class OutboxMessage(SQLModel, table=True):
    """A rendered mail waiting to be sent, written in the transaction that caused it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # idempotency key: the same key is never queued twice
    kind: str = ""  # section | receipt | feedback | signin | reminder | notice | …
    recipient: str = Field(index=True)
    subject: str = ""
    message_id: str = ""
    message: bytes = Field(sa_type=sa.LargeBinary)  # the whole RFC 5322 message
    status: str = Field(default="queued", index=True)  # queued | sending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(index=True)
    last_error: str = ""
    response_id: int | None = Field(default=None, foreign_key="responses.id", index=True)
    created_at: datetime | None = _ts(nullable=False)
    sent_at: datetime | None = _ts()


class AccessToken(SQLModel, table=True):
    """A secret handed to a person (sign-in link, reply address, session); only its hash is kept."""

    __tablename__ = "access_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    purpose: str = Field(index=True)  # signin | session | reply
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", index=True)
    administrator_id: int | None = Field(default=None, foreign_key="administrators.id")
    response_id: int | None = Field(default=None, foreign_key="responses.id")
    created_at: datetime | None = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=False)
    used_at: datetime | None = _ts()


class AuditEntry(SQLModel, table=True):
    """Who did what, when: an append-only log."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(nullable=False, index=True)
    actor: str = ""  # an e-mail address, "system" or "cli"
    action: str = Field(index=True)
    organisation_id: int | None = Field(default=None, index=True)
    response_id: int | None = Field(default=None, index=True)
    details: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class Attachment(SQLModel, table=True):
    """A file sent with an answer mail, kept as evidence ("bilaga") for that mail's answers."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inbound_messages.id", index=True)
    response_id: int | None = Field(default=None, foreign_key="responses.id", index=True)
    filename: str = ""
    content_type: str = ""
    size: int = 0
    data: bytes = Field(sa_type=sa.LargeBinary)
    questions: str = ""  # space-separated ids of the questions that mail answered
    created_at: datetime | None = _ts(nullable=False)


REMINDER_KINDS = ("launch", "deadline", "inactivity", "escalation", "appoint")


class Reminder(SQLModel, table=True):
    """One planned or sent mail of the cycle's reminder plan (and the launch letter to management).

    Unique on (cycle, organisation, contact, step): whatever runs the plan, and however
    often, a step reaches a contact once. The outbox key is ``reminder:`` + :attr:`key`.
    """

    __tablename__ = "reminders"
    __table_args__ = (sa.UniqueConstraint("cycle_id", "organisation_id", "contact_id", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycles.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    response_id: int | None = Field(default=None, foreign_key="responses.id", index=True)
    step: str  # first | mid28 | d28 | … | idle:<silence start> | launch
    kind: str  # launch | deadline | inactivity | escalation | appoint
    recipient: str = ""  # the address when it was planned
    due_at: datetime | None = _ts(nullable=False, index=True)
    status: str = Field(default="planned", index=True)  # planned | sent | skipped
    reason: str = ""  # why skipped
    details: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime | None = _ts(nullable=False)
    sent_at: datetime | None = _ts()

    @property
    def key(self) -> str:
        return f"{self.cycle_id}:{self.organisation_id}:{self.contact_id}:{self.step}"


_T = TypeVar("_T", bound=SQLModel)
_mappers_configured = False


def table_of(cls: type[SQLModel]) -> sa.Table:
    """The table of a table class, for SQL expressions."""
    return cast(sa.Table, cls.__table__)  # type: ignore[attr-defined]


def labelled(cls: type[SQLModel], prefix: str) -> list[sa.Label[Any]]:
    """Every column of ``cls``'s table, labelled ``prefix + name``: one table's part of a
    joined select, read back with :func:`from_row`."""
    return [c.label(prefix + c.name) for c in table_of(cls).c]


def from_row(cls: type[_T], values: Any, prefix: str | None = None) -> _T:
    """A detached instance of a table class from a row's column values, without validation.

    ``values`` maps column names to values; with ``prefix``, it is a row of a joined
    select and the columns labelled ``prefix + name`` (:func:`labelled`) are taken.
    For hot paths that read with SQL expressions: much cheaper than loading through the ORM.
    """
    global _mappers_configured
    if not _mappers_configured:  # attribute access needs configured mappers
        sa.orm.configure_mappers()
        _mappers_configured = True
    if prefix is not None:
        n = len(prefix)
        values = {k[n:]: v for k, v in values._mapping.items() if k.startswith(prefix)}
    return cast(_T, cls.model_construct(**values))
