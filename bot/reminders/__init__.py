"""Reminders before the deadline: the plan (``plan``, pure), running it exactly once
(``run``), the mail (``mail``), and pausing them when a contact replies ``pausa``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import AuditEntry, Contact


async def pause_reminders(session: AsyncSession, organisation_id: int, email: str, at: datetime) -> bool:
    """No more reminders to ``email`` of the organisation in this cycle; False when no such contact."""
    done = await session.exec(
        sa.update(Contact)
        .where(
            col(Contact.organisation_id) == organisation_id,
            col(Contact.email) == email.lower(),
        )
        .values(reminders_paused=True, reminders_paused_at=at)
    )
    if not done.rowcount:
        return False
    session.add(
        AuditEntry(at=at, actor=email.lower(), action="contact.paused", organisation_id=organisation_id)
    )
    return True
