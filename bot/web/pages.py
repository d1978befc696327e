"""Public pages: the health check and a read-only view of the model."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.keys import MODEL, SETTINGS
from scoring.score import scorer_for


async def health(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    return web.json_response({"status": "ok", "model": model.id, "version": model.version})


@aiohttp_jinja2.template("model.html.j2")
async def model_page(request: web.Request) -> dict[str, Any]:
    model = request.app[MODEL]
    lang = request.query.get("lang", model.default_language)
    if lang not in model.languages:
        lang = model.default_language
    return {
        "model": model,
        "lang": lang,
        "scorer": scorer_for(model),
        "base_url": request.app[SETTINGS].method_support_url,
    }


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/", model_page)
    app.router.add_get("/model", model_page)
