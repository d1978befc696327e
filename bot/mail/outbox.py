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

from bot.db.tables import OutboxMessage, now
from bot.mail.compose import SMTP_POLICY


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
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "key": key,
        "kind": kind,
        "recipient": parseaddr(str(message["To"]))[1].lower(),
        "subject": str(message["Subject"] or ""),
        "message_id": str(message["Message-ID"] or ""),
        "message": message.as_bytes(policy=SMTP_POLICY),
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now(),
        "last_error": "",
        "response_id": response_id,
        "created_at": now(),
    }
    stmt = insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"])
    result = await session.exec(stmt)
    return bool(result.rowcount)
