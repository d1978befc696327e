"""Public pages: the health check and a read-only view of the model."""

from __future__ import annotations

from aiohttp import web

from bot.keys import MODEL, SETTINGS
from bot.web.security import render, request_lang
from scoring.score import scorer_for


async def health(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    return web.json_response({"status": "ok", "model": model.id, "version": model.version})


async def model_page(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    lang = request.query.get("lang") or request_lang(request)
    if lang not in model.languages:
        lang = model.default_language
    return render(
        request,
        "model.html.j2",
        {
            "model": model,
            "lang": lang,
            "scorer": scorer_for(model),
            "base_url": request.app[SETTINGS].method_support_url,
        },
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/model", model_page)
