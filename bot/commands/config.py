"""``assessbot config show``: every setting with its value, default and help."""

from __future__ import annotations

import argparse

from bot.settings import Settings


def show(args: argparse.Namespace) -> int:
    for var, value, default, help_text in Settings().described():
        print(f"{var}={value}")
        print(f"    {help_text}")
        print(f"    default: {default or '(empty)'}")
    return 0
