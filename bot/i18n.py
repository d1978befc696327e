"""Languages: Swedish first, English second; message catalogs and Jinja2 environments.

Texts are written in Swedish in templates and code (``_("…")``); ``bot/locale/en`` holds
their English translations as a gettext ``.po`` file, read at start-up with Babel (no
compile step). A language without a catalog, or a text without a translation, falls back
to Swedish. Dates and numbers are formatted with Babel in the reader's language.

Catalog upkeep (developers)::

    pybabel extract -F babel.cfg -o bot/locale/messages.pot .
    pybabel update -i bot/locale/messages.pot -d bot/locale -l en --no-fuzzy-matching
"""

from __future__ import annotations

import gettext as _gettext
from datetime import date, datetime
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as _format_decimal
from babel.numbers import format_percent as _format_percent
from babel.support import Translations

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"


def language(lang: str | None) -> str:
    """A supported language code; anything else gives Swedish."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang`` (a null catalog for Swedish, the source language)."""
    lang = language(lang)
    if lang == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    po = resources.files("bot") / "locale" / lang / "LC_MESSAGES" / "messages.po"
    try:
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
    except FileNotFoundError:
        return _gettext.NullTranslations()
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(lang: str, message: str, **values: Any) -> str:
    """``message`` in ``lang``, with ``%(name)s`` placeholders filled from ``values``."""
    text = translations(lang).gettext(message)
    return text % values if values else text


def ngettext(lang: str, singular: str, plural: str, n: int, **values: Any) -> str:
    text = translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def format_date(value: date | datetime, lang: str, tz: str = "Europe/Stockholm", fmt: str = "long") -> str:
    """A date in the reader's language, e.g. "5 mars 2027" / "March 5, 2027"."""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz))
    return _format_date(value, format=fmt, locale=language(lang))


def format_datetime(value: datetime, lang: str, tz: str = "Europe/Stockholm", fmt: str = "medium") -> str:
    return _format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=language(lang))


def format_number(value: float, lang: str) -> str:
    return _format_decimal(value, locale=language(lang))


def format_percent(value: float, lang: str) -> str:
    return _format_percent(value, locale=language(lang))


@jinja2.pass_context
def _ctx_gettext(ctx: jinja2.runtime.Context, message: str, **values: Any) -> str:
    text = translations(ctx.get("lang", DEFAULT_LANGUAGE)).gettext(message)
    return text % values if values else text


@jinja2.pass_context
def _ctx_ngettext(ctx: jinja2.runtime.Context, singular: str, plural: str, n: int, **values: Any) -> str:
    text = translations(ctx.get("lang", DEFAULT_LANGUAGE)).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def environment(loader: jinja2.BaseLoader, *, html: bool) -> jinja2.Environment:
    """A Jinja2 environment with gettext by the context's ``lang`` and Babel filters.

    ``html`` turns autoescaping on; plain-text templates (mail text parts, the command
    line) render with it off but never pass user text into HTML.
    """
    env = jinja2.Environment(
        loader=loader,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,  # the templates ship with the package: no stat() per render
    )
    env.install_gettext_callables(_ctx_gettext, _ctx_ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = lambda v, lang="sv", fmt="long": format_date(v, lang, fmt=fmt)
    env.filters["number"] = lambda v, lang="sv": format_number(v, lang)
    return env
