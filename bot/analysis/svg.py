"""Small SVG charts for the analysis page: stacked shares per row, and plain bars.

Written as SVG elements with presentation attributes only (no ``style`` attributes), so a
page with a strict Content-Security-Policy shows them, and the same markup works in a
standalone HTML file. Each chart is an ``<svg role="img">`` with a ``<title>`` and a
``<desc>`` that says its figures; the page shows the same figures in a table beside it.
Colours are the Okabe–Ito palette of the feedback charts (safe for colour blindness);
segments also carry their percentage as text when there is room.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

# the Okabe–Ito colours of bot/feedback/charts.py (not imported: that would load matplotlib)
BLUE, VERMILLION, ORANGE, SKY, GREEN = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#009E73"
INK, MUTED = "#1A1A1A", "#4D4D4D"
LEVEL_COLOURS = (VERMILLION, ORANGE, SKY, BLUE, GREEN)
# text on each colour: white where the contrast is enough, ink otherwise
LEVEL_TEXT = ("#FFFFFF", INK, INK, "#FFFFFF", "#FFFFFF")
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
_ids = count(1)


def _pct(value: float) -> str:
    return f"{round(100 * value)}\u00a0%"


def stacked_shares(
    title: str,
    rows: Sequence[tuple[str, Sequence[int]]],
    categories: Sequence[str],
    *,
    width: int = 640,
    label_width: int = 220,
) -> Markup:
    """One 100 % bar per row, a segment per category (levels), with a legend above."""
    uid = next(_ids)
    row_h, bar_h, top = 30, 20, 46
    height = top + row_h * len(rows) + 10
    plot = width - label_width - 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'class="chart" aria-labelledby="t{uid} d{uid}" font-family="{FONT}" font-size="13">',
        f'<title id="t{uid}">{escape(title)}</title>',
    ]
    desc = []
    # legend
    x = float(label_width)
    for k, name in enumerate(categories):
        colour = LEVEL_COLOURS[k % len(LEVEL_COLOURS)]
        out.append(f'<rect x="{x}" y="8" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="20" fill="{INK}">{escape(name)}</text>')
        x += 26 + 7.2 * len(name)
    for r, (label, values) in enumerate(rows):
        y = top + r * row_h
        total = sum(values)
        out.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 5}" text-anchor="end" fill="{INK}">{escape(label)}</text>'
        )
        parts = []
        x0 = float(label_width)
        for k, v in enumerate(values):
            if not total or not v:
                continue
            w = plot * v / total
            colour = LEVEL_COLOURS[k % len(LEVEL_COLOURS)]
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
            if w >= 34:
                out.append(
                    f'<text x="{x0 + w / 2:.1f}" y="{y + bar_h - 5}" text-anchor="middle" '
                    f'fill="{LEVEL_TEXT[k % len(LEVEL_TEXT)]}" font-size="12">{_pct(v / total)}</text>'
                )
            parts.append(f"{categories[k]} {_pct(v / total)}")
            x0 += w
        if not total:
            out.append(f'<text x="{label_width}" y="{y + bar_h - 5}" fill="{MUTED}">–</text>')
        desc.append(f"{label}: {', '.join(parts) or '–'}")
    out.insert(2, f'<desc id="d{uid}">{escape("; ".join(desc))}</desc>')
    out.append("</svg>")
    return Markup("".join(out))


def bars(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    *,
    maximum: float = 1.0,
    width: int = 640,
    label_width: int = 220,
    colour: str = BLUE,
) -> Markup:
    """A horizontal bar per row: (label, value, value as text)."""
    uid = next(_ids)
    row_h, bar_h, top = 24, 16, 8
    height = top + row_h * len(rows) + 6
    plot = width - label_width - 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'class="chart" aria-labelledby="t{uid} d{uid}" font-family="{FONT}" font-size="13">',
        f'<title id="t{uid}">{escape(title)}</title>',
        f'<desc id="d{uid}">{escape("; ".join(f"{label}: {text}" for label, _, text in rows))}</desc>',
    ]
    for r, (label, value, text) in enumerate(rows):
        y = top + r * row_h
        w = plot * (value / maximum) if maximum else 0
        out.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 3}" text-anchor="end" fill="{INK}">{escape(label)}</text>'
        )
        out.append(
            f'<rect x="{label_width}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{label_width + w + 6:.1f}" y="{y + bar_h - 3}" fill="{INK}">{escape(text)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
