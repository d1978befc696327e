"""``assessbot outbox list|send``: what the outbox holds, and sending what is due now.

``list`` shows queued, sent and failed mail (newest last), as a table or as JSON. ``send``
makes one pass of the sender (``bot/mail/sender.py``) over everything due now, over SMTP
or into the Maildir when no server is configured, prints a summary and exits 0, or 75
(EX_TEMPFAIL, "try again later") when the server could not be reached and mail still waits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlmodel import SQLModel

from bot.commands.common import CommandError, run_with_database
from bot.db import tables as _tables  # noqa: F401  (registers the outbox table)
from bot.db.database import Database
from bot.settings import Settings

STATUSES = ("queued", "sending", "sent", "failed")
_SHOWN = {"queued": "köade", "sending": "skickas", "sent": "skickade", "failed": "misslyckade"}


def _when(value: datetime | None, zone: ZoneInfo | None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(zone) if zone is not None else value).isoformat(timespec="seconds")


async def outbox_rows(
    db: Database, *, status: str | None, limit: int, zone: ZoneInfo | None
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows (0: all), oldest first, as the JSON of ``outbox list``."""
    t: sa.Table = SQLModel.metadata.tables["outbox"]
    q = sa.select(*(c for c in t.c if c.name != "message")).order_by(t.c.id.desc())
    if status:
        q = q.where(t.c.status == status)
    if limit > 0:
        q = q.limit(limit)
    async with db.transaction(readonly=True) as session:
        rows = (await (await session.connection()).execute(q)).mappings().all()
    return [
        {
            "id": r["id"],
            "key": r["key"],
            "kind": r["kind"],
            "status": r["status"],
            "recipient": r["recipient"],
            "subject": r["subject"],
            "message_id": r["message_id"],
            "attempts": r["attempts"],
            "next_attempt_at": _when(r["next_attempt_at"], zone)
            if r["status"] in ("queued", "sending")
            else None,
            "last_error": r["last_error"],
            "response_id": r["response_id"],
            "created_at": _when(r["created_at"], zone),
            "sent_at": _when(r["sent_at"], zone),
        }
        for r in reversed(rows)
    ]


async def status_counts(db: Database) -> dict[str, int]:
    t: sa.Table = SQLModel.metadata.tables["outbox"]
    async with db.transaction(readonly=True) as session:
        conn = await session.connection()
        counted = await conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status))
        found = {status: int(n) for status, n in counted}
    return {s: found.get(s, 0) for s in STATUSES}


def _zone(settings: Settings) -> ZoneInfo | None:
    try:
        return ZoneInfo(settings.timezone)
    except Exception:
        return None


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def list_(args: argparse.Namespace) -> int:
    settings = Settings()
    zone = _zone(settings)

    async def body(db: Database) -> int:
        rows = await outbox_rows(db, status=args.status, limit=args.limit, zone=zone)
        if args.format == "json":
            sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
            return 0
        counts = await status_counts(db)
        if rows:
            head = ["id", "status", "typ", "mottagare", "ämne", "försök", "nästa försök", "senaste fel"]
            table = [
                [
                    str(r["id"]),
                    r["status"],
                    r["kind"] or "-",
                    r["recipient"],
                    _cut(r["subject"], 40),
                    str(r["attempts"]),
                    (r["next_attempt_at"] or "-")[:16].replace("T", " "),
                    _cut(r["last_error"], 60) or "-",
                ]
                for r in rows
            ]
            widths = [max(len(row[i]) for row in [head, *table]) for i in range(len(head))]
            for row in [head, *table]:
                print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        else:
            print("utkön är tom" if not args.status else f"inga mejl med status {args.status}")
        shown = counts[args.status] if args.status else sum(counts.values())
        if args.limit and shown > len(rows):
            print(f"(de {len(rows)} senaste av {shown}; --limit 0 visar alla)")
        print(", ".join(f"{counts[s]} {_SHOWN[s]}" for s in STATUSES))
        return 0

    return run_with_database(settings, body)


def send(args: argparse.Namespace) -> int:
    from bot.mail.sender import EX_TEMPFAIL, Sender, make_transport

    settings = Settings()
    logging.basicConfig(level=logging.WARNING, format="assessbot: %(message)s", stream=sys.stderr)

    async def body(db: Database) -> int:
        try:
            transport = make_transport(settings)
        except (ValueError, OSError) as exc:  # a bad URL, an unreadable CA file
            raise CommandError(str(exc), code=2) from None
        sender = Sender(db, settings, transport=transport)
        try:
            summary = await sender.deliver_due()
        finally:
            await sender.close()
        print(
            f"skickade {summary.sent}, försenade {summary.deferred}, misslyckade {summary.failed}; "
            f"{summary.waiting} väntar"
        )
        if summary.unreachable and summary.waiting:
            # The sender has logged the reason once; say what it means for this command.
            print(f"assessbot: {transport.name} gick inte att nå; försök igen senare", file=sys.stderr)
            return EX_TEMPFAIL
        return 0

    return run_with_database(settings, body)
