"""``assessbot cycle create`` and ``assessbot cycle list``: the national cycles.

A cycle has a name (usually the year), a launch day and a deadline, both calendar days in
``ASSESSBOT_TIMEZONE``: it opens at the start of the launch day and closes at the end of
the deadline day there. It records the id and version of the model it was created with
(``--model PATH``, ``ASSESSBOT_MODEL_PATH`` or the bundled model), so that later changes
to the model file do not change what an open cycle asks.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy import func
from sqlmodel import col, select

from bot.commands.common import CommandError, error, run_with_database
from bot.db.database import Database
from bot.db.tables import RESPONSE_STATUSES, AuditEntry, Cycle, Response
from bot.settings import Settings
from conversations.questionnaire import ModelError, load_model


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"ogiltigt datum för {what}: {text!r} (skriv ÅÅÅÅ-MM-DD)") from None


def _create(args: argparse.Namespace, settings: Settings) -> int:
    name = " ".join(args.name.split())
    if not name:
        raise CommandError("namn saknas")
    launch, deadline = _day(args.launch, "--launch"), _day(args.deadline, "--deadline")
    if deadline <= launch:
        raise CommandError(f"sista dagen ({deadline}) måste komma efter startdagen ({launch})")
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"okänd tidszon i ASSESSBOT_TIMEZONE: {settings.timezone!r}") from None
    try:
        model = load_model(args.model or settings.model_path or None)
    except ModelError as exc:
        raise CommandError("modellen kan inte användas:\n" + "\n".join(exc.problems), code=2) from None
    opens = datetime.combine(launch, time(), zone)
    closes = datetime.combine(deadline + timedelta(days=1), time(), zone)

    async def body(db: Database) -> int:
        async with db.transaction() as session:
            if (await session.exec(select(Cycle).where(Cycle.name == name))).first() is not None:
                raise CommandError(f"omgången {name} finns redan")
            cycle = Cycle(
                name=name, launch=launch, deadline=deadline, model_id=model.id, model_version=model.version
            )
            session.add(cycle)
            await session.flush()
            session.add(
                AuditEntry(
                    actor="cli",
                    action="cycle.create",
                    details={
                        "cycle_id": cycle.id,
                        "name": name,
                        "opens": opens.isoformat(),
                        "closes": closes.isoformat(),
                        "model": f"{model.id} v{model.version}",
                    },
                )
            )
        print(
            f"omgång {name} skapad (id {cycle.id}): {launch} – {deadline} till och med "
            f"({settings.timezone}); modell {model.id} v{model.version}"
        )
        return 0

    return run_with_database(settings, body)


def create(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        return _create(args, settings)
    except CommandError as exc:
        error(exc.message)
        return exc.code


async def cycles_with_counts(db: Database) -> list[dict[str, Any]]:
    """Every cycle (by launch day) as the JSON of ``cycle list``."""
    async with db.transaction(readonly=True) as session:
        cycles = (await session.exec(select(Cycle).order_by(col(Cycle.launch), col(Cycle.id)))).all()
        counted = await session.exec(
            select(Response.cycle_id, Response.status, func.count()).group_by(
                col(Response.cycle_id), col(Response.status)
            )
        )
        counts: dict[int, dict[str, int]] = {}
        for cycle_id, status, n in counted:
            counts.setdefault(cycle_id, {})[status] = n
    out = []
    for c in cycles:
        assert c.id is not None
        per_status = {s: counts.get(c.id, {}).get(s, 0) for s in RESPONSE_STATUSES}
        out.append(
            {
                "name": c.name,
                "launch": c.launch.isoformat(),
                "deadline": c.deadline.isoformat(),
                "model": c.model_id,
                "model_version": c.model_version,
                "status": c.status,
                "responses": sum(counts.get(c.id, {}).values()),
                "counts": per_status,
            }
        )
    return out


def list_(args: argparse.Namespace) -> int:
    async def body(db: Database) -> int:
        cycles = await cycles_with_counts(db)
        if args.format == "json":
            sys.stdout.buffer.write(orjson.dumps(cycles, option=orjson.OPT_INDENT_2) + b"\n")
            return 0
        if not cycles:
            print("inga omgångar")
            return 0
        head = ["namn", "start", "sista dag", "modell", "status", *RESPONSE_STATUSES]
        rows = [
            [
                c["name"],
                c["launch"],
                c["deadline"],
                f"{c['model']} v{c['model_version']}",
                c["status"],
                *(str(c["counts"][s]) for s in RESPONSE_STATUSES),
            ]
            for c in cycles
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        return 0

    return run_with_database(Settings(), body)
