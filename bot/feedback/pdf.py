"""Printing the feedback report to PDF with WeasyPrint (A4, running head, page numbers).

The input is the ``print`` variant of the report's HTML (see
:func:`bot.feedback.render.render_html` and ``mail_templates/feedback/print.html.j2``): the
two-page handout for ledningens genomgång. That HTML carries no stylesheet; the print
stylesheet (``print.css.j2``: the A4 page, the running head, the page numbers) is parsed
once per process and applied here. The URL fetcher allows ``data:`` only, so printing never
touches the network or the disk.

Speed (one report takes well under 100 ms of CPU): one
:class:`~weasyprint.text.fonts.FontConfiguration` and one parsed
:class:`~weasyprint.CSS` are shared by all renders, so fonts are discovered and the
stylesheet is parsed once per process; the handout uses one font family (DejaVu Sans,
regular and bold), simple selectors, fixed table layouts and no images. WeasyPrint needs
pango and harfbuzz-subset from the system (Debian: ``libpango-1.0-0 libpangoft2-1.0-0
libharfbuzz-subset0``); without harfbuzz-subset it subsets fonts with fontTools, which is
many times slower. Renders are serialised by a lock because neither the font configuration
nor the fetcher is documented as thread-safe.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from bot.feedback.render import print_stylesheet

_lock = threading.Lock()


@cache
def _tools() -> tuple[FontConfiguration, URLFetcher, CSS]:
    # WeasyPrint logs a warning per unsupported CSS property; keep quiet.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    font_config = FontConfiguration()
    fetcher = URLFetcher(allowed_protocols={"data"})
    return font_config, fetcher, CSS(string=print_stylesheet(), font_config=font_config, url_fetcher=fetcher)


def render_pdf(html_for_print: str) -> bytes:
    """An A4 PDF of the report's print HTML."""
    with _lock:
        font_config, fetcher, stylesheet = _tools()
        pdf: bytes | None = HTML(string=html_for_print, url_fetcher=fetcher).write_pdf(
            font_config=font_config, stylesheets=[stylesheet]
        )
    if not isinstance(pdf, bytes):  # None only when a target file is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf
