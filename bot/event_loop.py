"""The event loop the long-running commands (``serve``, ``demo``) run on.

uvloop (libuv, in C) where it is installed, which it is on Linux and macOS (a dependency
of the package there); asyncio's own loop elsewhere. Everything in the service is plain
asyncio, so both loops run it alike; uvloop makes each socket read and write, timer and
wake-up cheaper, which is most of what the web chat's WebSocket turns cost outside the
turn itself.
"""

from __future__ import annotations

import asyncio


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's if it can be imported, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # (Windows, or a platform without a wheel)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
