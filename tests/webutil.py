"""Helpers for the web chat tests: CSRF tokens from pages, sign-in links from the outbox."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from sqlmodel import col, select

from bot.db.database import Database
from bot.db.tables import OutboxMessage
from bot.settings import Settings

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+?(/logga-in/[A-Za-z0-9_-]+)")


def web_settings(tmp_path, **extra) -> Settings:  # type: ignore[no-untyped-def]
    values = {
        "secret_key": "test-secret",
        "var_dir": str(tmp_path),
        "reply_domain": "svar.example.se",
        "base_url": "http://127.0.0.1:8080",
        **extra,
    }
    return Settings(**values)


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m is not None, "no CSRF token on the page"
    return m.group(1)


async def signin_mails(db: Database, address: str) -> list[OutboxMessage]:
    async with db.transaction(readonly=True) as s:
        return list(
            (
                await s.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.kind == "signin", OutboxMessage.recipient == address)
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        )


def link_path(row: OutboxMessage) -> str:
    """The path of the sign-in link in a queued sign-in mail."""
    msg = message_from_bytes(row.message, policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    m = _LINK.search(body.get_content())  # type: ignore[attr-defined]
    assert m is not None, "no sign-in link in the mail"
    return m.group(1)


async def latest_link(db: Database, address: str) -> str:
    mails = await signin_mails(db, address)
    assert mails, f"no sign-in mail to {address}"
    return link_path(mails[-1])
