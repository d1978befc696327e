"""Shared fixtures: the bundled model and a synthetic model of the same shape.

The database fixtures (``db`` on SQLite and PostgreSQL, ``cli``) live in ``tests/conftest_db.py``.
Async tests run on asyncio's own event loop; a test marked
``@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])`` runs on the service's loop
(``bot/event_loop.py``) too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bot.event_loop import new_event_loop
from conversations.questionnaire import Model, load_model, parse_model
from tests.modelgen import model_dict

pytest_plugins = ["tests.conftest_db", "tests.conftest_mail"]


@pytest.fixture(scope="session")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="session")
def synthetic() -> Model:
    m, problems = parse_model(model_dict())
    assert not problems and m is not None
    return m


def pytest_asyncio_loop_factories(
    config: Any, item: Any
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    marker = item.get_closest_marker("asyncio")
    if marker is not None and marker.kwargs.get("loop_factories"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
