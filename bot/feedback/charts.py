"""The two charts of the feedback report, drawn with matplotlib (Agg).

* ``areas``: the ten work areas' indicative levels 0–4 as horizontal bars, each area's
  name above its bar (long Swedish names stay readable on a phone), the level as a number
  at the bar's end, and the organisation's own level as a dashed vertical line.
* ``points``: the points now against the points the next level requires — the points that
  lift questions to the minimum and the movable points drawn as separate hatched segments,
  every level's threshold marked below — and the certain answers now against those
  required.

Accessibility: the Okabe–Ito palette (safe for the common kinds of colour blindness),
every graphical element at least 3:1 against white and text far above 4.5:1, and no
figure told by colour alone: numbers are written out and segments also differ by
hatching. Fonts are 10–14 pt on a 4.2 inch wide figure that is shown at most 420 CSS px
wide, so on a 360 px wide phone the area names are about 15 CSS px and the smallest
labels about 12 px.

Output: each chart as a PNG at 2× (for mail, where SVG is not shown; palette-quantised,
well under 60 KB) and, on request, as SVG with real text (for the web page and the PDF).

Speed: a chart's static part (area names, grid, thresholds) depends only on the model and
the language, so each is drawn once into a cached figure whose background is kept; a
report then draws only its bars and numbers on top (blitting) and encodes the PNG. The
cached figures are guarded by a lock, so rendering from several threads is safe. No
pyplot, so no global figure state.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from matplotlib import rcParams
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from PIL import Image

# Okabe–Ito colours, with their contrast against white
BLUE = "#0072B2"  # 5.0:1 — what is there now
VERMILLION = "#D55E00"  # 3.9:1 — the organisation's level; points to lift to the minimum
ORANGE = "#E69F00"  # 2.1:1, always hatched and labelled — movable points
SKY = "#56B4E9"  # always hatched and labelled — certain answers missing
INK = "#1A1A1A"  # 17:1 — text
MUTED = "#4D4D4D"  # 8.5:1 — secondary text
GRID = "#BDBDBD"
TRACK = "#E8E8E8"

WIDTH_IN = 4.2  # shown at most 420 CSS px wide (1 inch = 100 CSS px): a phone's width
DPI_PNG = 200  # 2×
FONT = 13.0

rcParams.update(
    {
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "font.size": FONT,
        "svg.fonttype": "none",  # real text in SVG: selectable, searchable, small
        "svg.hashsalt": "assessbot",  # stable ids
        "text.color": INK,
        "xtick.color": INK,
        "axes.edgecolor": GRID,
    }
)


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


# --------------------------------------------------------------------------- templates


def _wrap(name: str, width: int = 40) -> str:
    return "\n".join(textwrap.wrap(name, width)) or name


class _Template:
    """A figure whose static part is drawn once; reports draw dynamic artists on top."""

    def __init__(self, fig: Figure, dynamic: Sequence[Artist]) -> None:
        self.fig = fig
        self.fig.set_dpi(DPI_PNG)
        self.canvas = FigureCanvasAgg(fig)
        self.dynamic = list(dynamic)
        self.lock = threading.Lock()
        for a in self.dynamic:
            a.set_visible(False)
        self.canvas.draw()  # type: ignore[no-untyped-call]
        self.background = self.canvas.copy_from_bbox(fig.bbox)  # type: ignore[no-untyped-call]
        w, h = fig.get_size_inches()
        self.size = (round(w * 100), round(h * 100))

    def png(self) -> bytes:
        self.canvas.restore_region(self.background)  # type: ignore[no-untyped-call]
        for a in self.dynamic:
            if a.get_visible():
                self.fig.draw_artist(a)
        return _encode_png(self.canvas)

    def svg(self) -> str:
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        return _clean_svg(buf.getvalue())


class _AreasTemplate(_Template):
    def __init__(self, names: tuple[str, ...], top: int, axis_label: str) -> None:
        wrapped = [_wrap(n) for n in names]
        lines = [w.count("\n") + 1 for w in wrapped]
        row_h = [0.22 * n + 0.52 for n in lines]  # inches per area: name, bar, gap
        total = sum(row_h)
        head, foot = 0.45, 0.75
        height = total + head + foot
        fig = Figure(figsize=(WIDTH_IN, height), facecolor="white")
        ax = fig.add_axes((0.03, foot / height, 0.86, total / height))
        ax.set_xlim(0, top)
        ax.set_ylim(total, 0)
        ax.set_xticks(range(top + 1))
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=FONT, length=0, pad=6)
        ax.set_xlabel(axis_label, fontsize=FONT - 2, color=MUTED)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        for x in range(1, top + 1):
            ax.axvline(x, color=GRID, linewidth=0.8, zorder=0)
        self.bars: list[Rectangle] = []
        self.values: list[Text] = []
        y = 0.0
        marks_x: list[float] = []
        marks_y: list[float] = []
        for name, n, h in zip(wrapped, lines, row_h, strict=True):
            ax.text(
                0,
                y + 0.03,
                name,
                va="top",
                ha="left",
                fontsize=FONT - 1.5,
                linespacing=1.1,
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
            bar_mid = y + 0.22 * n + 0.2
            marks_x += [0, 0, float("nan")]
            marks_y += [bar_mid - 0.24, bar_mid + 0.24, float("nan")]
            self.bars.append(Rectangle((0, bar_mid - 0.14), 0, 0.28, color=BLUE, zorder=2))
            ax.add_patch(self.bars[-1])
            self.values.append(
                ax.text(
                    0, bar_mid, "", va="center", ha="left", fontsize=FONT + 1, fontweight="bold", zorder=5
                )
            )
            y += h
        # the organisation's level: a thick mark across every bar, not across the names
        self.line = Line2D(marks_x, marks_y, color=VERMILLION, linewidth=3.2, zorder=3)
        self.marks_y = marks_y
        ax.add_line(self.line)
        self.label = ax.text(
            0, -0.1, "", va="bottom", fontsize=FONT, fontweight="bold", color=VERMILLION, clip_on=False
        )
        self.top = top
        super().__init__(fig, [*self.bars, *self.values, self.line, self.label])

    def update(self, data: AreasChart) -> None:
        for bar, value, level in zip(self.bars, self.values, data.levels, strict=True):
            width = max(level, 0.04)  # level 0 keeps a sliver so the row is not empty
            bar.set_width(width)
            bar.set_visible(True)
            value.set_position((width + 0.07, value.get_position()[1]))
            value.set_text(str(level))
            value.set_visible(True)
        self.line.set_xdata([y if math.isnan(y) else data.overall for y in self.marks_y])
        self.line.set_visible(True)
        right = data.overall > self.top / 2
        self.label.set_position((data.overall + (-0.05 if right else 0.05), -0.1))
        self.label.set_horizontalalignment("right" if right else "left")
        self.label.set_text(data.overall_label)
        self.label.set_visible(True)


class _PointsTemplate(_Template):
    def __init__(
        self,
        points_max: int,
        certain_max: int,
        thresholds: tuple[tuple[str, int], ...],
        legend: tuple[tuple[str, str], ...],
    ) -> None:
        height = 3.6
        fig = Figure(figsize=(WIDTH_IN, height), facecolor="white")
        self.top = fig.add_axes((0.035, 2.55 / height, 0.93, 0.5 / height))
        self.bottom = fig.add_axes((0.035, 1.0 / height, 0.93, 0.4 / height))
        for ax, limit in ((self.top, points_max), (self.bottom, certain_max)):
            ax.set_xlim(0, max(limit, 1))
            ax.set_ylim(-0.5, 0.5)
            ax.barh(0, max(limit, 1), height=1.0, color=TRACK, zorder=0)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        for text, value in thresholds:
            self.top.plot([value, value], [-0.5, -0.8], color=MUTED, linewidth=1.0, clip_on=False)
            self.top.text(
                value, -0.9, text, ha="center", va="top", fontsize=FONT - 3, color=MUTED, linespacing=1.0,
                clip_on=False,
            )  # fmt: skip
        styles: dict[str, dict[str, Any]] = {
            "now": {"facecolor": BLUE},
            "mandatory": {"facecolor": VERMILLION, "hatch": "////", "edgecolor": "white"},
            "movable": {"facecolor": ORANGE, "hatch": "---", "edgecolor": INK},
            "certain_missing": {"facecolor": SKY, "hatch": "\\\\", "edgecolor": INK},
        }
        if legend:
            fig.legend(
                handles=[Patch(label=label, **styles[key]) for key, label in legend],
                loc="lower left",
                bbox_to_anchor=(0.02, 0.0),
                ncols=2,
                frameon=False,
                fontsize=FONT - 3,
                handlelength=1.6,
                columnspacing=1.0,
            )
        self.p_title = self.top.text(0, 0.62, "", ha="left", va="bottom", fontsize=FONT - 1, clip_on=False)
        self.c_title = self.bottom.text(0, 0.66, "", ha="left", va="bottom", fontsize=FONT - 1, clip_on=False)
        self.p_now = Rectangle((0, -0.5), 0, 1.0, zorder=2, **styles["now"])
        self.p_mand = Rectangle((0, -0.5), 0, 1.0, zorder=2, **styles["mandatory"])
        self.p_mov = Rectangle((0, -0.5), 0, 1.0, zorder=2, **styles["movable"])
        self.c_now = Rectangle((0, -0.5), 0, 1.0, zorder=2, **styles["now"])
        self.c_miss = Rectangle((0, -0.5), 0, 1.0, zorder=2, **styles["certain_missing"])
        for r in (self.p_now, self.p_mand, self.p_mov):
            self.top.add_patch(r)
        for r in (self.c_now, self.c_miss):
            self.bottom.add_patch(r)
        self.p_req = Line2D([0, 0], [-0.62, 0.62], color=INK, linewidth=2.6, zorder=4, clip_on=False)
        self.c_req = Line2D([0, 0], [-0.62, 0.62], color=INK, linewidth=2.6, zorder=4, clip_on=False)
        self.top.add_line(self.p_req)
        self.bottom.add_line(self.c_req)
        self.p_value = self.top.text(0, 0, "", va="center", fontsize=FONT, fontweight="bold", zorder=5)
        self.c_value = self.bottom.text(0, 0, "", va="center", fontsize=FONT, fontweight="bold", zorder=5)
        self.points_max = points_max
        self.certain_max = certain_max
        super().__init__(
            fig,
            [
                self.p_now, self.p_mand, self.p_mov, self.c_now, self.c_miss, self.p_req, self.c_req,
                self.p_title, self.c_title, self.p_value, self.c_value,
            ],
        )  # fmt: skip

    @staticmethod
    def _value(text: Text, now: int, limit: int) -> None:
        """The number at the start of its bar (white on blue), or after a short bar."""
        width = 0.07 * limit  # room for three bold digits
        inside = now >= width
        text.set_position((limit * 0.012 if inside else now + limit * 0.012, 0))
        text.set_horizontalalignment("left")
        text.set_color("white" if inside else INK)
        text.set_text(str(now))

    def update(self, data: PointsChart) -> None:
        missing = max(0, data.certain_required - data.certain_now)
        self.p_title.set_text(data.points_title)
        self.c_title.set_text(data.certain_title)
        self.p_now.set_width(data.points_now)
        self.p_mand.set_x(data.points_now)
        self.p_mand.set_width(data.mandatory)
        self.p_mov.set_x(data.points_now + data.mandatory)
        self.p_mov.set_width(data.movable)
        self.p_req.set_xdata([data.points_required, data.points_required])
        self._value(self.p_value, data.points_now, self.points_max)
        self.c_now.set_width(data.certain_now)
        self.c_miss.set_x(data.certain_now)
        self.c_miss.set_width(missing)
        self.c_req.set_xdata([data.certain_required, data.certain_required])
        self._value(self.c_value, data.certain_now, self.certain_max)
        for a in self.dynamic:
            a.set_visible(True)
        self.p_mand.set_visible(data.mandatory > 0)
        self.p_mov.set_visible(data.movable > 0)
        self.c_miss.set_visible(missing > 0)


@lru_cache(maxsize=16)
def _areas_template(names: tuple[str, ...], top: int, axis_label: str) -> _AreasTemplate:
    return _AreasTemplate(names, top, axis_label)


@lru_cache(maxsize=12)
def _points_template(
    points_max: int,
    certain_max: int,
    thresholds: tuple[tuple[str, int], ...],
    legend: tuple[tuple[str, str], ...],
) -> _PointsTemplate:
    return _PointsTemplate(points_max, certain_max, thresholds, legend)


# --------------------------------------------------------------------------- output


def _encode_png(canvas: FigureCanvasAgg) -> bytes:
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    img = Image.frombuffer("RGBA", canvas.get_width_height(), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    small = img.quantize(palette=_palette(), dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=6)
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


_SVG_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _clean_svg(svg: str) -> str:
    """The bare ``<svg>`` element: no XML prolog, DOCTYPE or metadata."""
    svg = _SVG_METADATA.sub("", _SVG_HEAD.sub("", svg, count=1))
    return svg.replace("font-family:'DejaVu Sans'", "font-family:'DejaVu Sans',Verdana,Arial,sans-serif")


def make_charts(areas: AreasChart, points: PointsChart, *, svg: bool = False) -> Charts:
    """Draw both charts: the PNGs always, the SVGs when ``svg`` is true."""
    a = _areas_template(areas.names, areas.top, areas.axis_label)
    p = _points_template(points.points_max, points.certain_max, points.thresholds, points.legend)
    png: dict[str, bytes] = {}
    svgs: dict[str, str] = {}
    with a.lock:
        a.update(areas)
        png["areas"] = a.png()
        if svg:
            svgs["areas"] = a.svg()
    with p.lock:
        p.update(points)
        png["points"] = p.png()
        if svg:
            svgs["points"] = p.svg()
    return Charts(png, {"areas": a.size, "points": p.size}, svgs)
