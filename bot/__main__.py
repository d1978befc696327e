"""``python -m bot``: the same as the ``assessbot`` command."""

from __future__ import annotations

from bot.cli import entry

entry()
