"""The two charts of the feedback report, as SVG (web page) and PNG (mail).

* ``areas``: the ten work areas' indicative levels 0–4 as horizontal bars, each area's
  name above its bar (long Swedish names stay readable on a phone), the level as a number
  at the bar's end, and the organisation's own level as a thick vertical mark across every
  bar.
* ``points``: the points now against the points the next level requires — the points that
  lift questions to the minimum and the movable points drawn as separate hatched segments,
  every level's threshold marked below — and the certain answers now against those
  required.

Both are simple bar charts, so each is laid out once here as a short list of shapes
(rectangles, hatched rectangles, lines, texts, in CSS px of a 420 px wide figure) and that
list is written out twice: as SVG elements (real text: selectable, searchable, sharp at any
size; presentation attributes only, so a strict Content-Security-Policy shows them) and as
a PNG drawn with Pillow at 2× (for mail, where SVG is not shown; palette-quantised, well
under 60 KB). The same shapes give the same picture in both. A chart's static part (area
names, grid, axis, thresholds, legend) depends only on the model and the language, so its
PNG background is drawn once per process and each report draws only its bars and numbers
on a copy.

Accessibility: the Okabe–Ito palette (safe for the common kinds of colour blindness),
every graphical element at least 3:1 against white and text far above 4.5:1, and no
figure told by colour alone: numbers are written out and segments also differ by hatching.
Text is 14–19 CSS px on a figure shown at most 420 CSS px wide, so on a 360 px wide phone
the area names are about 14 px and the smallest labels about 12 px. The HTML gives each
chart an alternative text that says every figure (see :func:`bot.feedback.render.chart_alt`).
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

from markupsafe import escape
from PIL import Image, ImageDraw, ImageFont

# Okabe–Ito colours, with their contrast against white
BLUE = "#0072B2"  # 5.0:1 — what is there now
VERMILLION = "#D55E00"  # 3.9:1 — the organisation's level; points to lift to the minimum
ORANGE = "#E69F00"  # 2.1:1, always hatched and labelled — movable points
SKY = "#56B4E9"  # always hatched and labelled — certain answers missing
INK = "#1A1A1A"  # 17:1 — text
MUTED = "#4D4D4D"  # 8.5:1 — secondary text
GRID = "#BDBDBD"
TRACK = "#E8E8E8"
WHITE = "#FFFFFF"

WIDTH = 420  # CSS px: shown at most 420 px wide, a phone's width
SCALE = 2  # the PNG is 2× (840 px wide)
FONT = 18.0  # CSS px (13 pt on the 4.2 inch figure the charts were first drawn as)
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"
_ASCENT = 0.76  # DejaVu Sans: the baseline below the top of a line of capitals, in em
_MIDDLE = 0.36  # the baseline below the middle of a line of digits, in em


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class AreasChart:
    names: tuple[str, ...]  # the areas in report order, translated
    levels: tuple[int, ...]
    overall: int
    top: int
    overall_label: str  # "Er nivå: 2"
    axis_label: str  # "Indikativ nivå (0 = under nivå 1)"


@dataclass(frozen=True, slots=True)
class PointsChart:
    """Points and certain answers against what a level requires (all texts translated)."""

    points_title: str  # "Poäng: 81 nu, 123 krävs för nivå 3"
    points_now: int
    points_required: int
    points_max: int
    mandatory: int  # points that lift questions to the minimum
    movable: int  # points still needed from any question
    thresholds: tuple[tuple[str, int], ...]  # ("Nivå 1\n23 p", 23), … — static per model
    certain_title: str  # "Säkra bedömningar: 26 nu, 30 krävs"
    certain_now: int
    certain_required: int
    certain_max: int  # all level-grounding questions: a fixed scale
    # (key, label) of the legend entries: now, mandatory, movable, certain_missing
    legend: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Charts:
    png: dict[str, bytes]  # name → PNG (2×)
    size: dict[str, tuple[int, int]]  # name → (width, height) in CSS px
    svg: dict[str, str]  # name → SVG document (empty unless asked for)


# --------------------------------------------------------------------------- shapes

Hatch = Literal["mandatory", "movable", "certain_missing"]
Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    hatch: Hatch | None = None  # drawn over the fill, with an edge of the hatch's colour


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    width: float


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float  # the baseline
    text: str
    size: float
    colour: str = INK
    bold: bool = False
    anchor: Anchor = "start"
    halo: bool = False  # a white outline, so grid lines behind the text do not cross it


Shape = Rect | Line | Label

# hatch → (line colour, direction: "/" rising, "-" horizontal, "\\" falling)
_HATCHES: dict[Hatch, tuple[str, str]] = {
    "mandatory": (WHITE, "/"),
    "movable": (INK, "-"),
    "certain_missing": (INK, "\\"),
}
_HATCH_STEP = 8.0  # CSS px between hatch lines
_STYLES: dict[str, tuple[str, Hatch | None]] = {  # legend key → (fill, hatch)
    "now": (BLUE, None),
    "mandatory": (VERMILLION, "mandatory"),
    "movable": (ORANGE, "movable"),
    "certain_missing": (SKY, "certain_missing"),
}


def _wrap(name: str, width: int = 40) -> list[str]:
    return textwrap.wrap(name, width) or [name]


@dataclass(frozen=True, slots=True)
class _Layout:
    width: int
    height: int
    static: tuple[Shape, ...]  # the same for every report with these texts


class _AreasLayout:
    """The areas chart: rows of name(s) and bar, a grid per level, the x axis below."""

    HEAD, FOOT = 45.0, 75.0
    X0, X1 = 13.0, 374.0  # the plot's left and right edge

    def __init__(self, names: tuple[str, ...], top: int, axis_label: str) -> None:
        self.top = max(top, 1)
        self.unit = (self.X1 - self.X0) / self.top
        rows: list[tuple[list[str], float]] = []  # (name lines, row's top)
        y = self.HEAD
        for name in names:
            lines = _wrap(name)
            rows.append((lines, y))
            y += 22 * len(lines) + 52
        self.mids = [ry + 22 * len(lines) + 20 for lines, ry in rows]  # each bar's middle
        height = round(y + self.FOOT)
        static: list[Shape] = [
            Line(self.x(k), self.HEAD, self.x(k), y, GRID, 1.1) for k in range(1, self.top + 1)
        ]
        static.append(Line(self.X0, y, self.X1, y, GRID, 1.1))
        for k in range(self.top + 1):
            static.append(Label(self.x(k), y + 8 + FONT * _ASCENT, str(k), FONT, anchor="middle"))
        static.append(Label((self.X0 + self.X1) / 2, y + 52, axis_label, FONT - 3, MUTED, anchor="middle"))
        size = FONT - 2
        for lines, ry in rows:
            for i, line in enumerate(lines):
                static.append(Label(self.X0, ry + 3 + size * _ASCENT + i * size * 1.1, line, size, halo=True))
        self.layout = _Layout(WIDTH, height, tuple(static))

    def x(self, level: float) -> float:
        return self.X0 + level * self.unit

    def dynamic(self, data: AreasChart) -> list[Shape]:
        out: list[Shape] = []
        value_size = FONT + 1.5
        mark = self.x(data.overall)
        for mid, level in zip(self.mids, data.levels, strict=True):
            end = self.x(max(level, 0.04))  # level 0 keeps a sliver so the row is not empty
            out.append(Rect(self.X0, mid - 14, end - self.X0, 28, BLUE))
            out.append(Line(mark, mid - 22, mark, mid + 24, VERMILLION, 4.4))
            out.append(
                Label(end + 0.07 * self.unit, mid + value_size * _MIDDLE, str(level), value_size, bold=True)
            )
        right = data.overall > self.top / 2
        out.append(
            Label(
                mark + (-0.05 if right else 0.05) * self.unit, self.HEAD - 14, data.overall_label, FONT,
                VERMILLION, bold=True, anchor="end" if right else "start",
            )
        )  # fmt: skip
        return out


class _PointsLayout:
    """The points chart: two bars on tracks, the thresholds below the first, a legend."""

    X0, W = 14.7, 390.6
    P_TOP, P_H = 55.0, 50.0  # the points bar
    C_TOP, C_H = 220.0, 40.0  # the certain answers bar
    HEIGHT = 360

    def __init__(
        self,
        points_max: int,
        certain_max: int,
        thresholds: tuple[tuple[str, int], ...],
        legend: tuple[tuple[str, str], ...],
    ) -> None:
        self.p_unit = self.W / max(points_max, 1)
        self.c_unit = self.W / max(certain_max, 1)
        static: list[Shape] = [
            Rect(self.X0, self.P_TOP, self.W, self.P_H, TRACK),
            Rect(self.X0, self.C_TOP, self.W, self.C_H, TRACK),
        ]
        small = FONT - 4
        bottom = self.P_TOP + self.P_H
        for text, value in thresholds:
            x = self.X0 + value * self.p_unit
            static.append(Line(x, bottom, x, bottom + 15, MUTED, 1.4))
            for i, line in enumerate(text.split("\n")):
                static.append(
                    Label(x, bottom + 20 + small * _ASCENT + i * small, line, small, MUTED, anchor="middle")
                )
        # the legend: two columns, filled column by column, in the bottom left corner
        rows = (len(legend) + 1) // 2
        font = _font(False, small)
        first = [label for _, label in legend[:rows]]
        col2 = max(166.0, 33 + 1.15 * max((font.getlength(t) / SCALE for t in first), default=0) + 16)
        for i, (key, label) in enumerate(legend):
            col, row = divmod(i, rows)
            x = 13.0 + col * col2
            y = self.HEIGHT - 14 - (rows - 1 - row) * 22  # the baseline
            fill, hatch = _STYLES[key]
            static.append(Rect(x, y - 11, 22, 10, fill, hatch))
            static.append(Label(x + 33, y, label, small))
        self.layout = _Layout(WIDTH, self.HEIGHT, tuple(static))
        self.points_max, self.certain_max = points_max, certain_max

    def _bar(self, top: float, h: float, unit: float, limit: int, now: int, required: int) -> list[Shape]:
        x_req = self.X0 + required * unit
        out: list[Shape] = [Line(x_req, top - 0.12 * h, x_req, top + 1.12 * h, INK, 3.6)]
        size = FONT
        inside = now >= 0.07 * limit  # room for three bold digits
        x = self.X0 + (0.012 * limit + (0 if inside else now)) * unit
        out.append(
            Label(x, top + h / 2 + size * _MIDDLE, str(now), size, WHITE if inside else INK, bold=True)
        )
        return out

    def dynamic(self, data: PointsChart) -> list[Shape]:
        pu, cu, x0 = self.p_unit, self.c_unit, self.X0
        out: list[Shape] = []
        if data.points_now > 0:
            out.append(Rect(x0, self.P_TOP, data.points_now * pu, self.P_H, BLUE))
        if data.mandatory > 0:
            x = x0 + data.points_now * pu
            out.append(Rect(x, self.P_TOP, data.mandatory * pu, self.P_H, VERMILLION, "mandatory"))
        if data.movable > 0:
            x = x0 + (data.points_now + data.mandatory) * pu
            out.append(Rect(x, self.P_TOP, data.movable * pu, self.P_H, ORANGE, "movable"))
        missing = max(0, data.certain_required - data.certain_now)
        if data.certain_now > 0:
            out.append(Rect(x0, self.C_TOP, data.certain_now * cu, self.C_H, BLUE))
        if missing > 0:
            out.append(
                Rect(x0 + data.certain_now * cu, self.C_TOP, missing * cu, self.C_H, SKY, "certain_missing")
            )
        title = FONT - 1.3
        out.append(Label(x0, self.P_TOP - 10, data.points_title, title))
        out.append(Label(x0, self.C_TOP - 10, data.certain_title, title))
        out += self._bar(self.P_TOP, self.P_H, pu, self.points_max, data.points_now, data.points_required)
        out += self._bar(self.C_TOP, self.C_H, cu, self.certain_max, data.certain_now, data.certain_required)
        return out


@lru_cache(maxsize=16)
def _areas_layout(names: tuple[str, ...], top: int, axis_label: str) -> _AreasLayout:
    return _AreasLayout(names, top, axis_label)


@lru_cache(maxsize=12)
def _points_layout(
    points_max: int,
    certain_max: int,
    thresholds: tuple[tuple[str, int], ...],
    legend: tuple[tuple[str, str], ...],
) -> _PointsLayout:
    return _PointsLayout(points_max, certain_max, thresholds, legend)


# --------------------------------------------------------------------------- SVG


def _f(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _svg_hatch_defs() -> str:
    s = _HATCH_STEP
    paths = {"/": f"M0 {_f(s)}L{_f(s)} 0M-1 1L1 -1M{_f(s - 1)} {_f(s + 1)}L{_f(s + 1)} {_f(s - 1)}",
             "-": f"M0 {_f(s / 2)}H{_f(s)}",
             "\\": f"M0 0L{_f(s)} {_f(s)}M-1 {_f(s - 1)}L1 {_f(s + 1)}M{_f(s - 1)} -1L{_f(s + 1)} 1"}  # fmt: skip
    out = []
    for name, (colour, direction) in _HATCHES.items():
        out.append(
            f'<pattern id="h-{name}" patternUnits="userSpaceOnUse" width="{_f(s)}" height="{_f(s)}">'
            f'<path d="{paths[direction]}" stroke="{colour}" stroke-width="1.3"/></pattern>'
        )
    return "<defs>" + "".join(out) + "</defs>"


def _svg(layout: _Layout, dynamic: Iterable[Shape]) -> str:
    shapes = [*layout.static, *dynamic]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}" height="{layout.height}" '
        f'viewBox="0 0 {layout.width} {layout.height}" font-family="{FONT_FAMILY}">',
        f'<rect width="{layout.width}" height="{layout.height}" fill="{WHITE}"/>',
    ]
    if any(isinstance(s, Rect) and s.hatch for s in shapes):
        out.append(_svg_hatch_defs())
    # shapes first, texts on top (as in the PNG)
    for s in shapes:
        if isinstance(s, Rect):
            geometry = f'x="{_f(s.x)}" y="{_f(s.y)}" width="{_f(s.w)}" height="{_f(s.h)}"'
            out.append(f'<rect {geometry} fill="{s.fill}"/>')
            if s.hatch:
                edge = _HATCHES[s.hatch][0]
                out.append(f'<rect {geometry} fill="url(#h-{s.hatch})" stroke="{edge}" stroke-width="1"/>')
        elif isinstance(s, Line):
            out.append(
                f'<line x1="{_f(s.x1)}" y1="{_f(s.y1)}" x2="{_f(s.x2)}" y2="{_f(s.y2)}" '
                f'stroke="{s.colour}" stroke-width="{_f(s.width)}"/>'
            )
    for s in shapes:
        if isinstance(s, Label):
            attrs = f'x="{_f(s.x)}" y="{_f(s.y)}" font-size="{_f(s.size)}" fill="{s.colour}"'
            if s.anchor != "start":
                attrs += f' text-anchor="{s.anchor}"'
            if s.bold:
                attrs += ' font-weight="bold"'
            if s.halo:
                attrs += f' stroke="{WHITE}" stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
            out.append(f"<text {attrs}>{escape(s.text)}</text>")
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- PNG

_FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


@cache
def _font_path(bold: bool) -> str:
    """DejaVu Sans from the system (fonts-dejavu-core), else the copy matplotlib ships."""
    name = _FONT_FILES[bold]
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu"):
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    try:
        ImageFont.truetype(name, 10)  # Pillow searches the usual font folders
        return name
    except OSError:
        import matplotlib  # only when the system has no DejaVu Sans

        return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)


@lru_cache(maxsize=32)
def _font(bold: bool, size: float) -> ImageFont.FreeTypeFont:
    # the basic layout (no raqm) is enough for Swedish and English, and faster
    return ImageFont.truetype(_font_path(bold), round(size * SCALE), layout_engine=ImageFont.Layout.BASIC)


def _px(value: float) -> int:
    return round(value * SCALE)


@lru_cache(maxsize=12)
def _hatch_strip(hatch: Hatch, fill: str, h: int) -> Image.Image:
    """A hatched band as wide as a chart (PNG pixels), drawn at 2× and reduced: smooth lines."""
    colour, direction = _HATCHES[hatch]
    ss = 2
    W, H = _px(WIDTH) * ss, h * ss
    strip = Image.new("RGB", (W, H), fill)
    draw = ImageDraw.Draw(strip)
    step = round(_HATCH_STEP * SCALE * ss)
    lw = round(1.3 * SCALE * ss)
    if direction == "-":
        for y in range(step // 2, H, step):
            draw.line([(0, y), (W, y)], fill=colour, width=lw)
    else:
        for k in range(-H, W + H, step):
            ends = [(k, H), (k + H, 0)] if direction == "/" else [(k, 0), (k + H, H)]
            draw.line(ends, fill=colour, width=lw)
    return strip.reduce(ss)


def _draw(img: Image.Image, shapes: Sequence[Shape]) -> None:
    draw = ImageDraw.Draw(img)
    for s in shapes:
        if isinstance(s, Rect):
            x0, y0, x1, y1 = _px(s.x), _px(s.y), _px(s.x + s.w), _px(s.y + s.h)
            if x1 <= x0 or y1 <= y0:
                continue
            if s.hatch:
                img.paste(_hatch_strip(s.hatch, s.fill, y1 - y0).crop((0, 0, x1 - x0, y1 - y0)), (x0, y0))
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=_HATCHES[s.hatch][0], width=SCALE)
            else:
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=s.fill)
        elif isinstance(s, Line):
            w = max(1, _px(s.width))
            if s.x1 == s.x2:  # vertical: a rectangle, centred, with crisp edges
                x = _px(s.x1) - w // 2
                draw.rectangle([x, _px(s.y1), x + w - 1, _px(s.y2) - 1], fill=s.colour)
            else:
                y = _px(s.y1) - w // 2
                draw.rectangle([_px(s.x1), y, _px(s.x2) - 1, y + w - 1], fill=s.colour)
    for s in shapes:
        if isinstance(s, Label):
            anchor = {"start": "ls", "middle": "ms", "end": "rs"}[s.anchor]
            draw.text(
                (_px(s.x), _px(s.y)), s.text, fill=s.colour, font=_font(s.bold, s.size), anchor=anchor,
                stroke_width=_px(2) if s.halo else 0, stroke_fill=WHITE,
            )  # fmt: skip


class _Background:
    """A layout's static part as PNG pixels, drawn once; reports draw on a copy.

    Nothing a report draws overlaps a static text, so the static texts can go first.
    """

    def __init__(self, layout: _Layout) -> None:
        self.image = Image.new("RGB", (_px(layout.width), _px(layout.height)), WHITE)
        _draw(self.image, layout.static)

    def png(self, dynamic: Sequence[Shape]) -> bytes:
        img = self.image.copy()
        _draw(img, dynamic)
        return _encode_png(img)


_lock = threading.Lock()  # Pillow's FreeType faces are shared: one chart at a time


@lru_cache(maxsize=6)  # an areas background is about 5 MB: a few models × languages
def _background(layout: _Layout) -> _Background:
    return _Background(layout)


def _encode_png(img: Image.Image) -> bytes:
    small = img.quantize(palette=_palette(), dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=4)  # 4: well under 60 KB, a third faster than 6
    return out.getvalue()


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """Every chart colour blended into white in 15 steps: anti-aliased edges stay smooth."""
    colours: list[tuple[int, int, int]] = []
    for hexa in (INK, MUTED, GRID, TRACK, BLUE, VERMILLION, ORANGE, SKY):
        r, g, b = (int(hexa[i : i + 2], 16) for i in (1, 3, 5))
        for i in range(1, 16):
            t = i / 15
            c = (round(255 + (r - 255) * t), round(255 + (g - 255) * t), round(255 + (b - 255) * t))
            if min(c) < 236:  # leave white alone: Pillow maps colours through a coarse cache
                colours.append(c)
    colours = list(dict.fromkeys([(255, 255, 255), *colours]))
    pal = Image.new("P", (1, 1))
    flat = [v for c in colours for v in c]
    pal.putpalette(flat + [0] * (768 - len(flat)))
    return pal


# --------------------------------------------------------------------------- charts


def make_charts(areas: AreasChart, points: PointsChart, *, svg: bool = False) -> Charts:
    """Draw both charts: the PNGs always, the SVGs when ``svg`` is true."""
    with _lock:
        a = _areas_layout(areas.names, areas.top, areas.axis_label)
        p = _points_layout(points.points_max, points.certain_max, points.thresholds, points.legend)
        a_shapes, p_shapes = a.dynamic(areas), p.dynamic(points)
        png = {
            "areas": _background(a.layout).png(a_shapes),
            "points": _background(p.layout).png(p_shapes),
        }
    svgs = {"areas": _svg(a.layout, a_shapes), "points": _svg(p.layout, p_shapes)} if svg else {}
    size = {"areas": (a.layout.width, a.layout.height), "points": (p.layout.width, p.layout.height)}
    return Charts(png, size, svgs)
