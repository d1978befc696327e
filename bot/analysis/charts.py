"""The benchmarking mail's chart: the organisation's level and area levels within its group.

One row for the overall level and one per work area, each row's name above its bar (long
Swedish area names stay readable on a phone). A bar is the comparison group's distribution
over the levels as 100 % (the Okabe–Ito colours of the feedback charts, the share written
in each wide enough segment); the segment of the organisation's own level is outlined in
black and its level is written after the bar ("Ni: 2"). The image's alternative text and
the mail's tables say the same figures, so nothing is told by colour alone.

Speed: names, legend and layout depend only on the model and the language. They are drawn
once into a cached figure whose background is kept; each organisation's chart draws only
its bars, numbers and title on top (blitting) and encodes a palette PNG (2×, a few tens of
kilobytes). A lock per cached figure makes it safe from several threads.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from PIL import Image

from bot.analysis.svg import LEVEL_COLOURS, LEVEL_TEXT
from bot.feedback.charts import GRID, INK, MUTED

WIDTH_IN = 4.6  # shown at most 460 CSS px wide
DPI = 200
FONT = 11.0
BAR_END = 0.84  # bars end here (axes fraction); "Ni: 2" follows


@dataclass(frozen=True, slots=True)
class BenchmarkChart:
    rows: tuple[str, ...]  # "Samlad nivå", then the area names (translated)
    shares: tuple[tuple[float, ...], ...]  # per row: the group's share at each level
    own: tuple[int, ...]  # per row: the organisation's level
    legend: tuple[str, ...]  # level names
    own_label: str  # "Ni: %(n)d"
    title: str  # "Er nivå bland kommuner, …" (wrapped to two lines at most)


class _Figure:
    def __init__(self, rows: tuple[str, ...], legend: tuple[str, ...]) -> None:
        wrapped = ["\n".join(textwrap.wrap(r, 52)) or r for r in rows]
        lines = [w.count("\n") + 1 for w in wrapped]
        row_h = [0.2 * n + 0.34 for n in lines]  # inches: name, bar, gap
        head, foot = 1.05, 0.1
        body = sum(row_h)
        height = body + head + foot
        fig = Figure(figsize=(WIDTH_IN, height), facecolor="white", dpi=DPI)
        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.03, foot / height, 0.95, body / height))
        ax.set_xlim(0, 1)
        ax.set_ylim(body, 0)
        ax.set_axis_off()
        self.title = fig.text(
            0.03,
            1 - 0.08 / height,
            "",
            fontsize=FONT,
            fontweight="bold",
            va="top",
            color=INK,
            linespacing=1.15,
        )
        fig.legend(
            handles=[Patch(facecolor=LEVEL_COLOURS[k], label=name) for k, name in enumerate(legend)],
            loc="upper left",
            bbox_to_anchor=(0.02, 1 - 0.58 / height),
            ncols=3,
            frameon=False,
            fontsize=FONT - 2,
            handlelength=1.0,
            columnspacing=1.0,
            handletextpad=0.4,
            borderaxespad=0.0,
        )
        self.segments: list[list[Rectangle]] = []
        self.labels: list[list[Text]] = []
        self.outline: list[Rectangle] = []
        self.own: list[Text] = []
        y = 0.0
        for name, n, h in zip(wrapped, lines, row_h, strict=True):
            ax.text(0, y + 0.02, name, ha="left", va="top", fontsize=FONT - 1.5, color=INK, linespacing=1.05)
            mid = y + 0.2 * n + 0.14
            ax.add_patch(
                Rectangle((0, mid - 0.1), BAR_END, 0.2, facecolor="none", edgecolor=GRID, linewidth=0.5)
            )
            segs, texts = [], []
            for k in range(len(legend)):
                r = Rectangle((0, mid - 0.1), 0, 0.2, facecolor=LEVEL_COLOURS[k], edgecolor="none", zorder=2)
                ax.add_patch(r)
                segs.append(r)
                texts.append(
                    ax.text(
                        0,
                        mid,
                        "",
                        ha="center",
                        va="center",
                        fontsize=FONT - 3.5,
                        color=LEVEL_TEXT[k],
                        zorder=4,
                    )
                )
            box = Rectangle(
                (0, mid - 0.13), 0, 0.26, facecolor="none", edgecolor=INK, linewidth=2.0, zorder=5
            )
            ax.add_patch(box)
            self.segments.append(segs)
            self.labels.append(texts)
            self.outline.append(box)
            self.own.append(
                ax.text(
                    BAR_END + 0.025,
                    mid,
                    "",
                    ha="left",
                    va="center",
                    fontsize=FONT - 0.5,
                    fontweight="bold",
                    color=INK,
                )
            )
            y += h
        self.dynamic: list[Artist] = [self.title]
        for segs, texts, box, own in zip(self.segments, self.labels, self.outline, self.own, strict=True):
            self.dynamic += [*segs, *texts, box, own]
        for a in self.dynamic:
            a.set_visible(False)
        self.canvas.draw()  # type: ignore[no-untyped-call]
        self.background = self.canvas.copy_from_bbox(fig.bbox)  # type: ignore[no-untyped-call]
        self.lock = threading.Lock()

    def draw(self, data: BenchmarkChart) -> bytes:
        with self.lock:
            self.title.set_text("\n".join(textwrap.wrap(data.title, 48)[:2]))
            for segs, texts, box, own, shares, level in zip(
                self.segments, self.labels, self.outline, self.own, data.shares, data.own, strict=True
            ):
                x = 0.0
                for k, (seg, text) in enumerate(zip(segs, texts, strict=True)):
                    w = BAR_END * (shares[k] if k < len(shares) else 0.0)
                    seg.set_x(x)
                    seg.set_width(w)
                    text.set_position((x + w / 2, text.get_position()[1]))
                    text.set_text(f"{round(100 * w / BAR_END)}\u00a0%" if w >= 0.075 else "")
                    if k == level:
                        box.set_x(x)
                        box.set_width(max(w, 0.008))
                    x += w
                own.set_text(data.own_label % {"n": level})
            self.canvas.restore_region(self.background)  # type: ignore[no-untyped-call]
            for a in self.dynamic:
                a.set_visible(True)
                self.fig.draw_artist(a)
                a.set_visible(False)
            return _encode_png(self.canvas)


def _encode_png(canvas: FigureCanvasAgg) -> bytes:
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    img = Image.frombuffer("RGBA", canvas.get_width_height(), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    small = img.quantize(palette=_palette(), dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=6)
    return out.getvalue()


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """Every chart colour blended into white in 15 steps, so anti-aliased edges stay smooth."""
    colours: list[tuple[int, int, int]] = [(255, 255, 255)]
    for hexa in (INK, MUTED, GRID, *LEVEL_COLOURS):
        r, g, b = (int(hexa[i : i + 2], 16) for i in (1, 3, 5))
        for i in range(1, 16):
            t = i / 15
            c = (round(255 + (r - 255) * t), round(255 + (g - 255) * t), round(255 + (b - 255) * t))
            if min(c) < 236:  # leave white alone: Pillow maps colours through a coarse cache
                colours.append(c)
    colours = list(dict.fromkeys(colours))[:256]
    pal = Image.new("P", (1, 1))
    flat = [v for c in colours for v in c]
    pal.putpalette(flat + [0] * (768 - len(flat)))
    return pal


@lru_cache(maxsize=8)
def _figure(rows: tuple[str, ...], legend: tuple[str, ...]) -> _Figure:
    return _Figure(rows, legend)


def benchmark_png(data: BenchmarkChart) -> bytes:
    """The chart as a palette PNG (2×)."""
    return _figure(data.rows, data.legend).draw(data)


def alt_text(data: BenchmarkChart, level_names: Sequence[str]) -> str:
    """Every figure of the chart in words."""
    parts = []
    for name, shares, own in zip(data.rows, data.shares, data.own, strict=True):
        dist = ", ".join(f"{level_names[k]} {round(100 * s)} %" for k, s in enumerate(shares) if s)
        parts.append(f"{name}: {data.own_label % {'n': own}} ({dist})")
    return f"{data.title}. " + "; ".join(parts)
