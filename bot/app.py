"""The aiohttp application factory: settings, templates, routes and background workers."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.keys import MODEL, SETTINGS
from bot.settings import Settings
from bot.web import pages
from conversations.questionnaire import load_model


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[MODEL] = load_model(settings.model_path or None)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot", "web/templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    pages.setup_routes(app)
    return app
