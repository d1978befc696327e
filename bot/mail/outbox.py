"""The outbox: rendered mail stored in the transaction that caused it.

:func:`enqueue` adds a message under an idempotency key; a key already queued is left as
it is, so a turn that runs twice (a retry, a redelivered mail) never queues a mail twice.
The sender (``bot/mail/sender.py``) delivers what is queued.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import parseaddr

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import OutboxMessage, now, table_of
from bot.mail.wire import wire_bytes

_OUTBOX = table_of(OutboxMessage)
# one statement per dialect, built once: the values go in as parameters
_INSERT = {
    "postgresql": pg_insert(_OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite_insert(_OUTBOX).on_conflict_do_nothing(index_elements=["key"]),
}


def _raw(message: EmailMessage, name: str) -> str:
    """A header's value as set, without parsing it into a header object (ASCII headers)."""
    lname = name.lower()
    return next((str(v) for k, v in message.raw_items() if k.lower() == lname), "")


async def enqueue(
    session: AsyncSession,
    message: EmailMessage,
    *,
    key: str,
    kind: str,
    response_id: int | None = None,
) -> bool:
    """Queue ``message`` unless ``key`` is queued already. Returns True when it was added."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    at = now()
    values = {
        "key": key,
        "kind": kind,
        "recipient": parseaddr(_raw(message, "To").replace("\n", " "))[1].lower(),
        "subject": str(message["Subject"] or ""),
        "message_id": _raw(message, "Message-ID").strip(),
        "message": wire_bytes(message),
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": at,
        "last_error": "",
        "response_id": response_id,
        "created_at": at,
    }
    conn = await session.connection()
    result = await conn.execute(_INSERT["postgresql" if dialect == "postgresql" else "sqlite"], values)
    return bool(result.rowcount)
