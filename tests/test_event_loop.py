"""The service's event loop (bot/event_loop.py): uvloop where it is installed, else asyncio's.

The chat's WebSocket tests in ``tests/test_web_chat.py`` run on both loops.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from bot.event_loop import new_event_loop


def test_the_service_runs_on_uvloop_where_it_is_installed() -> None:
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_without_uvloop_the_service_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where no wheel is installed: ImportError
    loop = new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])
async def test_marked_tests_run_on_each_loop(request: pytest.FixtureRequest) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, uvloop.Loop) == request.node.callspec.id.endswith("uvloop")
