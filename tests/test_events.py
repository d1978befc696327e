"""In-process change notices (bot/events.py): every subscriber of a response hears of a
change, except the one that made it."""

from __future__ import annotations

from bot import events


async def test_a_change_is_told_to_every_subscriber_but_its_maker() -> None:
    async with (
        events.subscription(7) as maker,
        events.subscription(7) as other,
        events.subscription(8) as elsewhere,
    ):
        with events.own_changes(maker):
            events.publish(7)
        assert maker.empty() and other.get_nowait() == 7 and elsewhere.empty()
        events.publish(7)  # outside the block the maker hears of changes again
        events.publish(7)  # (one pending notice is enough)
        assert maker.qsize() == 1 and other.qsize() == 1
