"""Where a cycle stands: every organisation's status, counted per organisation type, exported.

Statuses are the response's (invited, in progress, completed, submitted, closed), plus two
for organisations without a response: ``awaiting_coordinator`` (management got the launch
letter, no coordinator yet) and ``not_invited`` (not launched for it). The status table is
exported as CSV (UTF-8 with BOM and ``;`` between fields, as Swedish Excel opens it) and
as XLSX.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import ORG_TYPES, Cycle
from bot.i18n import gettext
from conversations.questionnaire import Model

STATUSES = (
    "not_invited",
    "awaiting_coordinator",
    "invited",
    "in_progress",
    "completed",
    "submitted",
    "closed",
)
STATUS_NAMES = {
    "not_invited": "inte inbjuden",
    "awaiting_coordinator": "väntar på samordnare",
    "invited": "inbjuden",
    "in_progress": "påbörjad",
    "completed": "klar",
    "submitted": "inskickad",
    "closed": "stängd",
}
TYPE_NAMES = {"kommun": "kommun", "region": "region", "myndighet": "myndighet"}


@dataclass(frozen=True, slots=True)
class OrgStatus:
    id: int
    name: str
    type: str
    orgnr: str
    county: str
    status: str
    response_id: int | None
    last_activity: datetime | None
    answered: int  # level questions answered
    total: int
    sections_left: int
    coordinators: str
    reminders_sent: int
    reopened_until: date | None


async def cycle_status(session: AsyncSession, cycle: Cycle, model: Model) -> list[OrgStatus]:
    """Every organisation's status in ``cycle``, by name."""
    t = SQLModel.metadata.tables
    orgs, contacts, responses, answers, reminders = (
        t[n] for n in ("organisations", "contacts", "responses", "answers", "reminders")
    )
    conn = await session.connection()
    level = [q.id for q in model.questions]
    sections = [frozenset(q for q in s.questions if q in set(level)) for s in model.sections]
    sections = [s for s in sections if s]
    by_org = {
        r.organisation_id: r
        for r in await conn.execute(
            sa.select(
                responses.c.id,
                responses.c.organisation_id,
                responses.c.status,
                responses.c.last_activity_at,
                responses.c.reopened_until,
            ).where(responses.c.cycle_id == cycle.id)
        )
    }
    answered: dict[int, set[str]] = defaultdict(set)
    query = (
        sa.select(answers.c.response_id, answers.c.question)
        .join(responses, responses.c.id == answers.c.response_id)
        .where(responses.c.cycle_id == cycle.id, answers.c.skipped.is_(False), answers.c.question.in_(level))
    )
    for response_id, question in await conn.execute(query):
        answered[response_id].add(question)
    sent: dict[int, int] = defaultdict(int)
    letters: set[int] = set()
    counted = (
        sa.select(reminders.c.organisation_id, reminders.c.kind, sa.func.count())
        .where(reminders.c.cycle_id == cycle.id, reminders.c.status == "sent")
        .group_by(reminders.c.organisation_id, reminders.c.kind)
    )
    for row in (await conn.execute(counted)).all():
        if row[1] == "launch":
            letters.add(row[0])
        else:
            sent[row[0]] += row[2]
    coordinators: dict[int, list[str]] = defaultdict(list)
    people = sa.select(contacts.c.organisation_id, contacts.c.email).where(
        contacts.c.coordinator.is_(True), contacts.c.active.is_(True)
    )
    for org_id, email in await conn.execute(people.order_by(contacts.c.email)):
        coordinators[org_id].append(email)
    out = []
    listed = sa.select(orgs.c.id, orgs.c.name, orgs.c.type, orgs.c.orgnr, orgs.c.county).order_by(orgs.c.name)
    for org_id, name, org_type, orgnr, county in (await conn.execute(listed)).all():
        r = by_org.get(org_id)
        have = answered.get(r.id, set()) if r is not None else set()
        status = (
            r.status if r is not None else ("awaiting_coordinator" if org_id in letters else "not_invited")
        )
        out.append(
            OrgStatus(
                id=org_id,
                name=name,
                type=org_type,
                orgnr=orgnr or "",
                county=county or "",
                status=status,
                response_id=r.id if r is not None else None,
                last_activity=r.last_activity_at if r is not None else None,
                answered=len(have),
                total=len(level),
                sections_left=sum(1 for s in sections if not s <= have),
                coordinators=", ".join(coordinators.get(org_id, [])),
                reminders_sent=sent.get(org_id, 0),
                reopened_until=r.reopened_until if r is not None else None,
            )
        )
    return out


def counts_by_type(rows: Sequence[OrgStatus]) -> dict[str, dict[str, int]]:
    """status counts per organisation type, plus ``total``."""
    counts: dict[str, dict[str, int]] = {t: dict.fromkeys(STATUSES, 0) for t in (*ORG_TYPES, "total")}
    for row in rows:
        counts.setdefault(row.type, dict.fromkeys(STATUSES, 0))[row.status] += 1
        counts["total"][row.status] += 1
    return counts


def _header(lang: str) -> list[str]:
    return [
        gettext(lang, "Organisation"),
        gettext(lang, "Typ"),
        gettext(lang, "Organisationsnummer"),
        gettext(lang, "Län"),
        gettext(lang, "Status"),
        gettext(lang, "Senast aktiv"),
        gettext(lang, "Besvarade frågor"),
        gettext(lang, "Avsnitt kvar"),
        gettext(lang, "Samordnare"),
        gettext(lang, "Påminnelser skickade"),
        gettext(lang, "Öppnad igen till och med"),
    ]


def _cells(row: OrgStatus, lang: str, tz: ZoneInfo) -> list[Any]:
    local = row.last_activity.astimezone(tz).replace(tzinfo=None) if row.last_activity else None
    return [
        row.name,
        gettext(lang, TYPE_NAMES.get(row.type, row.type)),
        row.orgnr,
        row.county,
        gettext(lang, STATUS_NAMES.get(row.status, row.status)),
        local,
        row.answered,
        row.sections_left,
        row.coordinators,
        row.reminders_sent,
        row.reopened_until,
    ]


def export_csv(rows: Sequence[OrgStatus], lang: str, tz: ZoneInfo) -> bytes:
    """The status table as CSV for Swedish Excel: UTF-8 with BOM, ``;`` between fields."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(_header(lang))
    for row in rows:
        cells = _cells(row, lang, tz)
        writer.writerow(
            [
                c.strftime("%Y-%m-%d %H:%M") if isinstance(c, datetime) else ("" if c is None else c)
                for c in cells
            ]
        )
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def export_xlsx(rows: Sequence[OrgStatus], lang: str, tz: ZoneInfo, title: str) -> bytes:
    """The status table as an XLSX workbook (one sheet, a header row, real dates and numbers)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "Status")
    ws.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJK", (40, 12, 16, 16, 20, 18, 12, 12, 36, 12, 14), strict=True):
        ws.column_dimensions[letter].width = width
    header = []
    for text in _header(lang):
        cell = WriteOnlyCell(ws, value=text)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for row in rows:
        cells: list[Any] = []
        for value in _cells(row, lang, tz):
            cell = WriteOnlyCell(ws, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
