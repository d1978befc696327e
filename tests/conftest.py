"""Shared fixtures: the bundled model and a synthetic model of the same shape.

The database fixtures (``db`` on SQLite and PostgreSQL, ``cli``) live in ``tests/conftest_db.py``.
"""

from __future__ import annotations

import pytest

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
