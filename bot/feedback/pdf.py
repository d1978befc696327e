"""Printing the feedback report to PDF with WeasyPrint (A4, page numbers, charts embedded).

The input is the ``print`` variant of the report's HTML (see
:func:`bot.feedback.render.render_html`): the print stylesheet sets the A4 page, the
running head and the page numbers, and the charts are embedded as ``data:`` URIs. The URL
fetcher allows ``data:`` only, so printing never touches the network or the disk.

WeasyPrint needs pango and harfbuzz-subset from the system (Debian: ``libpango-1.0-0
libpangoft2-1.0-0 libharfbuzz-subset0``); without harfbuzz-subset it subsets fonts with
fontTools, which is many times slower. One
:class:`~weasyprint.text.fonts.FontConfiguration` is shared by all renders, so fonts are
discovered once per process; renders are serialised by a lock because neither it nor the
fetcher is documented as thread-safe.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

_lock = threading.Lock()


@cache
def _tools() -> tuple[FontConfiguration, URLFetcher]:
    # WeasyPrint logs a warning per unsupported CSS property (mail-only CSS); keep quiet.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return FontConfiguration(), URLFetcher(allowed_protocols={"data"})


def render_pdf(html_for_print: str) -> bytes:
    """An A4 PDF of the report's print HTML."""
    font_config, fetcher = _tools()
    with _lock:
        pdf: bytes | None = HTML(string=html_for_print, url_fetcher=fetcher).write_pdf(
            font_config=font_config
        )
    if not isinstance(pdf, bytes):  # None only when a target file is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf
