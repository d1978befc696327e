"""The chat's part caches (bot/web/parts.py): stencils fill their holes, caches stay bounded."""

from __future__ import annotations

from bot.web.parts import Stencil, _Lru, hole


def test_a_stencil_fills_each_hole_with_its_value() -> None:
    html = f"<a href='/svar/{hole('rid')}'>{hole('name')}</a><input value='{hole('csrf')}'>"
    stencil = Stencil(html)
    assert stencil.fill({"rid": "7", "name": "Anna &amp; Bo", "csrf": "t0k"}) == (
        "<a href='/svar/7'>Anna &amp; Bo</a><input value='t0k'>"
    )
    # filled-in values are not scanned again: a value that looks like a marker stays as it is
    assert stencil.fill({"rid": "1", "name": "<@csrf@>", "csrf": "x"}) == (
        "<a href='/svar/1'><@csrf@></a><input value='x'>"
    )


def test_a_stencil_with_one_kind_of_hole_and_one_without_holes() -> None:
    links = Stencil(f"<a href='/svar/{hole('rid')}?fraga=1.1'>1</a><a href='/svar/{hole('rid')}'>2</a>")
    assert links.only == "rid"
    assert links.fill({"rid": "42"}) == "<a href='/svar/42?fraga=1.1'>1</a><a href='/svar/42'>2</a>"
    plain = Stencil("<p>Klart</p>")
    assert plain.fill({}) == "<p>Klart</p>" and plain.only is None


def test_a_cache_renders_once_per_key_and_drops_its_oldest_when_full() -> None:
    cache = _Lru(limit=3)
    made: list[str] = []

    def make(text: str) -> str:
        made.append(text)
        return text

    for key in ("a", "b", "a", "c", "d", "a"):
        assert cache.get(key, lambda key=key: make(key)).fill({}) == key
    assert made == ["a", "b", "c", "d", "a"]  # "a" was the oldest when "d" came, so made again
    assert len(cache._items) == 3
