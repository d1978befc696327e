"""The coordinating authority's analysis page: the national report of a cycle, with exports.

``/analys`` (administrators only) shows the same report as ``assessbot report national
--format html`` — levels by type, size class and county, work areas, what blocks the next
level, unclear questions, key figures and trends, as SVG charts and tables — for the
chosen cycle (``?omgang=NAME``, the latest by default), in the reader's language.
``/analys/export?omgang=NAME&format=json|xlsx|csv|html`` downloads it; CSV comes as a ZIP
with one file per table. The report of a cycle is kept for a minute, so that opening the
page and then downloading does not analyse twice.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlmodel import col, select

from bot.analysis import export, html
from bot.analysis.national import NoSuchCycle, available_models, national_report
from bot.db.tables import Cycle
from bot.keys import DB, MODEL, SETTINGS
from bot.web.auth import require_user
from bot.web.security import Refused, render, request_lang

CACHE_SECONDS = 60.0
_CACHE: web.AppKey[dict[str, tuple[float, dict[str, Any]]]] = web.AppKey("analysis_cache")
FORMATS = {
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": ("application/zip", "zip"),
    "html": ("text/html", "html"),
}


def _admin(request: web.Request) -> None:
    user = require_user(request)
    if not user.is_admin:
        raise Refused(403, "Analysen är till för administratörer på den samordnande myndigheten.")


async def _report(request: web.Request, cycle: str) -> dict[str, Any]:
    cache = request.app[_CACHE]
    hit = cache.get(cycle)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    settings = request.app[SETTINGS]
    models = available_models(settings, current=request.app[MODEL])
    try:
        report = await national_report(request.app[DB], cycle, models, min_group=settings.benchmark_min_group)
    except NoSuchCycle:
        raise Refused(404, "Det finns ingen sådan omgång.") from None
    except ValueError:
        raise Refused(
            409, "Omgångens modellversion finns inte i tjänsten, så svaren kan inte analyseras."
        ) from None
    cache[cycle] = (time.monotonic(), report)
    return report


async def _cycles(request: web.Request) -> list[Cycle]:
    async with request.app[DB].transaction(readonly=True) as session:
        return list(
            (await session.exec(select(Cycle).order_by(col(Cycle.launch).desc(), col(Cycle.id).desc()))).all()
        )


def _model_of(request: web.Request, report: dict[str, Any]) -> Any:
    settings = request.app[SETTINGS]
    for m in available_models(settings, current=request.app[MODEL]):
        if (m.id, m.version) == (report["model"]["id"], report["model"]["version"]):
            return m
    raise Refused(409, "Omgångens modellversion finns inte i tjänsten, så svaren kan inte analyseras.")


async def page(request: web.Request) -> web.StreamResponse:
    _admin(request)
    cycles = await _cycles(request)
    wanted = request.query.get("omgang")
    cycle = next((c for c in cycles if c.name == wanted), cycles[0] if cycles else None)
    lang = request_lang(request)
    body = None
    if cycle is not None:
        report = await _report(request, cycle.name)
        links = [
            (label, "/analys/export?" + urlencode({"omgang": cycle.name, "format": fmt}))
            for label, fmt in (
                ("JSON", "json"),
                ("Excel (XLSX)", "xlsx"),
                ("CSV (ZIP)", "csv"),
                ("HTML", "html"),
            )
        ]
        body = html.render_body(report, _model_of(request, report), lang, exports=links)
    return render(request, "analysis.html.j2", {"cycles": cycles, "cycle": cycle, "body": body})


async def download(request: web.Request) -> web.StreamResponse:
    _admin(request)
    cycle = request.query.get("omgang", "")
    fmt = request.query.get("format", "")
    if fmt not in FORMATS or not cycle:
        raise Refused(400, "Välj en omgång och ett format: json, xlsx, csv eller html.")
    report = await _report(request, cycle)
    model = _model_of(request, report)
    lang = request_lang(request)
    if fmt == "json":
        data = export.to_json(report)
    elif fmt == "xlsx":
        data = export.xlsx_bytes(export.tables(report, model, lang))
    elif fmt == "csv":
        data = export.csv_zip(export.tables(report, model, lang))
    else:
        data = html.render_page(report, model, lang, authority=request.app[SETTINGS].authority_name).encode()
    content_type, ext = FORMATS[fmt]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in cycle)[:40] or "omgang"
    response = web.Response(body=data, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="nationell-analys-{safe}.{ext}"'
    response.headers["Cache-Control"] = "no-store"
    return response


async def stylesheet(request: web.Request) -> web.StreamResponse:
    response = web.Response(text=html.stylesheet(), content_type="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def setup_routes(app: web.Application) -> None:
    app[_CACHE] = {}
    app.router.add_get("/analys", page)
    app.router.add_get("/analys/export", download)
    app.router.add_get("/analys/analys.css", stylesheet)
