"""The feedback report as a web page, once a response is scored: ``/svar/N/rapport``.

The report itself (facts, charts, HTML) is built by ``bot.feedback``; this module only
checks who may see it (as the chat does), renders the report's web variant in a worker
thread (charts take a moment) and keeps the last few pages per response version. The
report page carries its own stylesheet in a ``<style>`` element and its charts as
``data:`` images, so it is served with a policy of its own: no script at all, inline
style allowed, nothing loaded from anywhere.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from aiohttp import web

from bot.feedback.deliver import earlier_comparison
from bot.feedback.render import render_feedback
from bot.keys import DB, MODEL, SETTINGS
from bot.web.chat import access
from bot.web.security import Refused, request_lang
from conversations.engine import score_state
from scoring.feedback import feedback_facts

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_PAGES: OrderedDict[tuple[int, int, str], str] = OrderedDict()


async def report_page(request: web.Request) -> web.StreamResponse:
    _user, loaded = await access(request)
    if loaded.state.status not in ("completed", "submitted", "closed"):
        raise Refused(404, "Återkopplingen finns när svaret är klart och poängsatt.")
    model = request.app[MODEL]
    settings = request.app[SETTINGS]
    lang = request_lang(request)
    rid = loaded.response.id or 0
    key = (rid, loaded.state.version, lang)
    html = _PAGES.get(key)
    if html is None:
        result = score_state(model, loaded.state)
        async with request.app[DB].transaction(readonly=True) as session:
            comparison = await earlier_comparison(session, model, loaded.response, loaded.cycle, result)
        facts = feedback_facts(
            model,
            result,
            comparison=comparison,
            answers=loaded.state.answers,
            method_support_url=settings.method_support_url,
        )
        rendered = await asyncio.to_thread(
            render_feedback,
            model,
            facts,
            organisation_name=loaded.organisation.name,
            cycle_name=loaded.cycle.name,
            lang=lang,
            settings=settings,
            for_mail=False,
        )
        html = rendered.html
        _PAGES[key] = html
        while len(_PAGES) > 50:
            _PAGES.popitem(last=False)
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/svar/{rid}/rapport", report_page)
