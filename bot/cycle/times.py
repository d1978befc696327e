"""A cycle's calendar days as moments: it opens at the start of its launch day and closes at
the end of its deadline day, both in ``ASSESSBOT_TIMEZONE``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def start_of(day: date, tz: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``tz``."""
    return datetime.combine(day, time(), tz)


def opens_at(launch: date, tz: ZoneInfo) -> datetime:
    return start_of(launch, tz)


def closes_at(deadline: date, tz: ZoneInfo) -> datetime:
    """The end of the deadline day: answers are taken until this moment, not after."""
    return start_of(deadline + timedelta(days=1), tz)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()
