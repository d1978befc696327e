"""Administration pages of the national cycle, for the coordinating authority's administrators.

- ``/admin/omgangar``: the cycles; ``/admin/omgangar/{name}``: one cycle's status, counted per
  organisation type and status, and the organisations (filter by type, status, name) with
  their status, last activity and what remains; a closed response can be reopened here;
  ``…/status.csv`` and ``…/status.xlsx`` export that table;
- ``/admin/omgangar/{name}/paminnelser``: reminders sent (and skipped, with the reason) and
  those the plan holds next;
- ``/admin/organisationer``: organisations and contacts (search, type filter), with bounces,
  absences and pauses shown; ``/admin/organisationer/import``: register many from a CSV or
  XLSX file (as ``assessbot org import``);
- ``/admin/studsar``: addresses that bounce, and inbound messages held, refused or unmatched.

Administrators only (others get 403, the signed-out the sign-in page). Everything is read-only
except the import and reopening, which are forms with the CSRF token and the Origin check.
Swedish by default, English by choice, like every page.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import SQLModel, col, select

from bot.cycle.deadline import reopen
from bot.cycle.launch import CycleError
from bot.cycle.status import (
    STATUS_NAMES,
    STATUSES,
    TYPE_NAMES,
    counts_by_type,
    cycle_status,
    export_csv,
    export_xlsx,
)
from bot.cycle.times import closes_at, local_day, zone
from bot.db.queries import Ambiguous, NotFound
from bot.db.tables import ORG_TYPES, Contact, Cycle, Organisation, Reminder, now
from bot.i18n import gettext
from bot.keys import DB, MODEL, SETTINGS
from bot.organisations import Invalid, import_columns, import_rows
from bot.reminders.plan import Policy, candidates
from bot.reminders.run import load_states
from bot.sheets import SheetError, read_sheet
from bot.web.auth import require_user
from bot.web.security import Refused, checked_form, render, request_lang

PAGE = 200  # rows per page of the long tables
UPLOAD_LIMIT = 5_000_000
REMINDER_KINDS = {
    "launch": "brev till ledningen",
    "deadline": "påminnelse",
    "inactivity": "påminnelse efter uppehåll",
    "escalation": "till ledningen",
    "appoint": "utse samordnare",
}
HELD = ("held", "refused", "unmatched", "failed")


def step_label(lang: str, step: str) -> str:
    """A reminder step in words: ``d28`` → "28 dagar före", ``first`` → "första", …"""
    if step.startswith("d") and step[1:].isdigit():
        return gettext(lang, "%(n)s dagar före", n=step[1:])
    if step.startswith("mid") and step[3:].isdigit():
        return gettext(lang, "extra, före %(n)s dagar", n=step[3:])
    if step.startswith("idle:"):
        return gettext(lang, "efter uppehåll")
    return gettext(lang, {"first": "första", "launch": "lansering"}.get(step, step))


def _admin(request: web.Request) -> Any:
    user = require_user(request)
    if not user.is_admin:
        raise Refused(403, "Sidan är till för administratörer på den samordnande myndigheten.")
    return user


async def _cycle(request: web.Request) -> Cycle:
    name = request.match_info["name"]
    async with request.app[DB].transaction(readonly=True) as session:
        cycle = (await session.exec(select(Cycle).where(Cycle.name == name))).first()
    if cycle is None:
        raise Refused(404, "Det finns ingen omgång som heter så.")
    return cycle


def _page(request: web.Request) -> int:
    try:
        return max(1, int(request.query.get("sida", "1")))
    except ValueError:
        return 1


async def cycles(request: web.Request) -> web.StreamResponse:
    _admin(request)
    from bot.commands.cycle import cycles_with_counts

    listed = await cycles_with_counts(request.app[DB])
    return render(request, "admin_cycles.html.j2", {"cycles": listed, "statuses": STATUSES[2:],
                                                     "status_names": STATUS_NAMES})  # fmt: skip


async def cycle_page(request: web.Request) -> web.StreamResponse:
    _admin(request)
    cycle = await _cycle(request)
    async with request.app[DB].transaction(readonly=True) as session:
        rows = await cycle_status(session, cycle, request.app[MODEL])
    counts = counts_by_type(rows)
    wanted_type = request.query.get("typ", "")
    wanted_status = request.query.get("status", "")
    search = request.query.get("q", "").strip()
    shown = [
        r
        for r in rows
        if (not wanted_type or r.type == wanted_type)
        and (not wanted_status or r.status == wanted_status)
        and (not search or search.lower() in r.name.lower() or search in r.orgnr)
    ]
    page = _page(request)
    return render(
        request,
        "admin_cycle.html.j2",
        {
            "cycle": cycle,
            "counts": counts,
            "types": ORG_TYPES,
            "type_names": TYPE_NAMES,
            "statuses": STATUSES,
            "status_names": STATUS_NAMES,
            "rows": shown[(page - 1) * PAGE : page * PAGE],
            "matching": len(shown),
            "page": page,
            "pages": max(1, -(-len(shown) // PAGE)),
            "wanted_type": wanted_type,
            "wanted_status": wanted_status,
            "search": search,
            "reopened": request.query.get("oppnad", ""),
            "default_until": local_day(now(), zone(request.app[SETTINGS].timezone)) + timedelta(days=14),
        },
    )


async def export(request: web.Request) -> web.StreamResponse:
    _admin(request)
    cycle = await _cycle(request)
    async with request.app[DB].transaction(readonly=True) as session:
        rows = await cycle_status(session, cycle, request.app[MODEL])
    lang = request_lang(request)
    tz = zone(request.app[SETTINGS].timezone)
    fmt = request.match_info["fmt"]
    filename = f"status-{cycle.name}.{fmt}"
    if fmt == "csv":
        body, content_type = export_csv(rows, lang, tz), "text/csv; charset=utf-8"
    else:
        body = export_xlsx(rows, lang, tz, f"Status {cycle.name}")
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


async def reopen_post(request: web.Request) -> web.StreamResponse:
    user = _admin(request)
    cycle = await _cycle(request)
    form = await checked_form(request)
    org = str(form.get("organisation", "")).strip()
    until_text = str(form.get("till", "")).strip()
    try:
        until = date.fromisoformat(until_text) if until_text else None
    except ValueError:
        raise Refused(400, "Skriv datumet som ÅÅÅÅ-MM-DD.") from None
    settings = request.app[SETTINGS]
    try:
        done = await reopen(
            request.app[DB],
            settings,
            request.app[MODEL],
            cycle.name,
            org,
            now=now(),
            until=until,
            actor=user.email,
        )
    except (CycleError, NotFound, Ambiguous) as exc:
        raise Refused(400, str(exc)) from None
    raise web.HTTPSeeOther(f"/admin/omgangar/{quote(cycle.name)}?oppnad={quote(done.organisation)}")


async def reminders_page(request: web.Request) -> web.StreamResponse:
    _admin(request)
    cycle = await _cycle(request)
    settings = request.app[SETTINGS]
    at = now()
    page = _page(request)
    async with request.app[DB].transaction(readonly=True) as session:
        conn = await session.connection()
        names = await _names(conn)
        counts = dict(
            (
                await session.exec(
                    select(Reminder.status, sa.func.count())
                    .where(Reminder.cycle_id == cycle.id)
                    .group_by(col(Reminder.status))
                )
            ).all()
        )
        recorded = (
            await session.exec(
                select(Reminder)
                .where(Reminder.cycle_id == cycle.id)
                .order_by(col(Reminder.due_at).desc(), col(Reminder.id).desc())
                .offset((page - 1) * PAGE)
                .limit(PAGE)
            )
        ).all()
        upcoming: list[Any] = []
        if cycle.status == "launched" and at < closes_at(cycle.deadline, zone(settings.timezone)):
            policy = Policy.from_settings(settings)
            loaded = await load_states(session, cycle, request.app[MODEL], policy)
            upcoming = sorted(
                (c for org in loaded.states for c in candidates(loaded.times, org, policy)),
                key=lambda c: (c.due_at, c.organisation_id, c.contact_id),
            )
    return render(
        request,
        "admin_reminders.html.j2",
        {
            "cycle": cycle,
            "counts": counts,
            "recorded": recorded,
            "upcoming": upcoming[:PAGE],
            "upcoming_total": len(upcoming),
            "names": names,
            "kinds": REMINDER_KINDS,
            "page": page,
            "more": len(recorded) == PAGE,
            "step": lambda step: step_label(request_lang(request), step),
        },
    )


async def organisations(request: web.Request) -> web.StreamResponse:
    _admin(request)
    search = request.query.get("q", "").strip()
    wanted_type = request.query.get("typ", "")
    page = _page(request)
    async with request.app[DB].transaction(readonly=True) as session:
        query = select(Organisation)
        if wanted_type in ORG_TYPES:
            query = query.where(Organisation.type == wanted_type)
        if search:
            like = f"%{search.lower()}%"
            in_contacts = select(Contact.organisation_id).where(col(Contact.email).like(like))
            query = query.where(
                sa.or_(
                    sa.func.lower(Organisation.name).like(like),
                    col(Organisation.orgnr).like(f"%{search.replace('-', '')}%"),
                    col(Organisation.id).in_(in_contacts),
                )
            )
        total = (await session.exec(select(sa.func.count()).select_from(query.subquery()))).one()
        orgs = (
            await session.exec(query.order_by(col(Organisation.name)).offset((page - 1) * PAGE).limit(PAGE))
        ).all()
        people: dict[int, list[Contact]] = {}
        if orgs:
            for c in (
                await session.exec(
                    select(Contact)
                    .where(col(Contact.organisation_id).in_([o.id for o in orgs]))
                    .order_by(col(Contact.email))
                )
            ).all():
                people.setdefault(c.organisation_id, []).append(c)
    return render(
        request,
        "admin_organisations.html.j2",
        {
            "organisations": orgs,
            "people": people,
            "total": total,
            "search": search,
            "wanted_type": wanted_type,
            "types": ORG_TYPES,
            "type_names": TYPE_NAMES,
            "page": page,
            "pages": max(1, -(-total // PAGE)),
            "now": now(),
        },
    )


async def import_form(request: web.Request) -> web.StreamResponse:
    _admin(request)
    return render(request, "admin_import.html.j2", {"result": None})


async def import_post(request: web.Request) -> web.StreamResponse:
    user = _admin(request)
    if request.content_length is not None and request.content_length > UPLOAD_LIMIT:
        raise Refused(400, "Filen är för stor.")
    form = await checked_form(request)
    upload = form.get("fil")
    if upload is None or not hasattr(upload, "file"):
        raise Refused(400, "Välj en fil att läsa in.")
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx", ".txt"):
        raise Refused(400, "Filen måste vara .csv eller .xlsx.")
    data = upload.file.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        raise Refused(400, "Filen är för stor.")
    result = await _import(request, data, suffix, upload.filename or "fil", user.email)
    return render(request, "admin_import.html.j2", {"result": result})


async def _import(
    request: web.Request, data: bytes, suffix: str, filename: str, actor: str
) -> dict[str, Any]:
    """What ``assessbot org import`` does, for an uploaded file; a row with a problem is not stored."""
    settings = request.app[SETTINGS]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            sheet = read_sheet(path)
            columns, unknown = import_columns(sheet.header)
        except SheetError as exc:
            return {
                "problems": [str(exc).replace(str(path), filename)],
                "stored": [],
                "skipped": {},
                "refused": {},
            }
        except Invalid as exc:
            return {"problems": list(exc.problems), "stored": [], "skipped": {}, "refused": {}}
    async with request.app[DB].transaction() as session:
        outcome = await import_rows(
            session,
            columns,
            sheet.rows,
            default_language=settings.language,
            actor=actor,
            details={"file": filename, "by": actor},
        )
    return {
        "problems": [f"okänd kolumn {text!r} läses inte" for text in unknown],
        "stored": [entry.name for _, entry in outcome.stored],
        "skipped": dict(sorted(outcome.skipped.items())),
        "refused": dict(sorted(outcome.refused.items())),
    }


async def bounces(request: web.Request) -> web.StreamResponse:
    _admin(request)
    inbound = SQLModel.metadata.tables["inbound_messages"]
    async with request.app[DB].transaction(readonly=True) as session:
        conn = await session.connection()
        failing = (
            await session.exec(
                select(Contact, Organisation)
                .join(Organisation, col(Organisation.id) == col(Contact.organisation_id))
                .where(col(Contact.failing_since).is_not(None))
                .order_by(col(Contact.failing_since).desc())
                .limit(PAGE)
            )
        ).all()
        held = (
            await conn.execute(
                sa.select(
                    inbound.c.id,
                    inbound.c.received_at,
                    inbound.c.sender,
                    inbound.c.subject,
                    inbound.c.status,
                    inbound.c.reason,
                    inbound.c.organisation_id,
                )
                .where(inbound.c.status.in_(HELD))
                .order_by(inbound.c.received_at.desc())
                .limit(PAGE)
            )
        ).all()
        names = await _names(conn)
    return render(request, "admin_bounces.html.j2", {"failing": failing, "held": held, "names": names})


async def _names(conn: Any) -> dict[int, str]:
    orgs = SQLModel.metadata.tables["organisations"]
    return {row[0]: row[1] for row in (await conn.execute(sa.select(orgs.c.id, orgs.c.name))).all()}


async def index(request: web.Request) -> web.StreamResponse:
    _admin(request)
    raise web.HTTPSeeOther("/admin/omgangar")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/admin", index)
    app.router.add_get("/admin/omgangar", cycles)
    app.router.add_get("/admin/omgangar/{name}", cycle_page)
    app.router.add_get(r"/admin/omgangar/{name}/status.{fmt:csv|xlsx}", export)
    app.router.add_post("/admin/omgangar/{name}/oppna", reopen_post)
    app.router.add_get("/admin/omgangar/{name}/paminnelser", reminders_page)
    app.router.add_get("/admin/organisationer", organisations)
    app.router.add_get("/admin/organisationer/import", import_form)
    app.router.add_post("/admin/organisationer/import", import_post)
    app.router.add_get("/admin/studsar", bounces)
