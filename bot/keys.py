"""Typed keys of the aiohttp application (``web.AppKey``), declared in one place."""

from __future__ import annotations

import weakref

from aiohttp import web

from bot.db.database import Database
from bot.settings import Settings
from bot.turn import Effects
from bot.web.ratelimit import SigninLimits
from bot.web.transcript import Transcripts
from conversations.questionnaire import Model

SETTINGS = web.AppKey("settings", Settings)
MODEL = web.AppKey("model", Model)
DB = web.AppKey("db", Database)
DEMO = web.AppKey("demo", bool)
SECRET = web.AppKey("secret", bytes)  # the signing key, read once
EFFECTS: web.AppKey[Effects] = web.AppKey("effects")
LIMITS = web.AppKey("limits", SigninLimits)
TRANSCRIPTS = web.AppKey("transcripts", Transcripts)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
