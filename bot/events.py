"""In-process notifications: "response N changed", for live web chat updates.

:func:`handle_turn` calls :func:`publish` after a turn is committed, whatever its
channel; the web chat subscribes per response and pushes a fresh view over its
WebSocket, so an answer given by mail appears in an open chat at once. Subscribers that
are gone or slow lose nothing that matters: the page always renders from the database.
(With several service processes, each process only hears its own turns; the page then
catches up on its next load.) A subscriber is not told of the changes it makes itself
(:func:`own_changes`): the chat socket that took a turn shows its outcome anyway.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

_subscribers: defaultdict[int, set[asyncio.Queue[int]]] = defaultdict(set)
_own: ContextVar[asyncio.Queue[int] | None] = ContextVar("assessbot_own_changes", default=None)


def publish(response_id: int) -> None:
    """Tell every subscriber of ``response_id`` that it changed, except the one making the
    change (:func:`own_changes`)."""
    own = _own.get()
    for queue in list(_subscribers.get(response_id, ())):
        if queue is not own and queue.empty():  # one pending notice is enough
            queue.put_nowait(response_id)


@contextmanager
def own_changes(queue: asyncio.Queue[int] | None) -> Iterator[None]:
    """Changes published within this block (in this task) are not told to ``queue``."""
    token = _own.set(queue)
    try:
        yield
    finally:
        _own.reset(token)


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
