"""Typed keys of the aiohttp application (``web.AppKey``), declared in one place."""

from __future__ import annotations

from aiohttp import web

from bot.db.database import Database
from bot.settings import Settings
from conversations.questionnaire import Model

SETTINGS = web.AppKey("settings", Settings)
MODEL = web.AppKey("model", Model)
DB = web.AppKey("db", Database)
