"""In-process notifications: "response N changed", for live web chat updates.

:func:`handle_turn` calls :func:`publish` after a turn is committed, whatever its
channel; the web chat subscribes per response and pushes a fresh view over its
WebSocket, so an answer given by mail appears in an open chat at once. Subscribers that
are gone or slow lose nothing that matters: the page always renders from the database.
(With several service processes, each process only hears its own turns; the page then
catches up on its next load.)
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_subscribers: defaultdict[int, set[asyncio.Queue[int]]] = defaultdict(set)


def publish(response_id: int) -> None:
    """Tell every subscriber of ``response_id`` that it changed."""
    for queue in list(_subscribers.get(response_id, ())):
        if queue.empty():  # one pending notice is enough
            queue.put_nowait(response_id)


@asynccontextmanager
async def subscription(response_id: int) -> AsyncIterator[asyncio.Queue[int]]:
    """A queue that receives ``response_id`` whenever the response changes."""
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    _subscribers[response_id].add(queue)
    try:
        yield queue
    finally:
        _subscribers[response_id].discard(queue)
        if not _subscribers[response_id]:
            del _subscribers[response_id]
