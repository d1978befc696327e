"""``assessbot serve``: run the web service and its background workers."""

from __future__ import annotations

import argparse

from aiohttp import web

from bot.app import create_app, settle_memory
from bot.commands.common import check_schema, error
from bot.event_loop import new_event_loop
from bot.settings import Settings


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if problem := check_schema(settings):
        error(problem)
        return 1
    app = create_app(settings)
    app.on_startup.append(settle_memory)
    print(f"assessbot: serving on http://{args.host}:{args.port}/", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, loop=new_event_loop())
    return 0
