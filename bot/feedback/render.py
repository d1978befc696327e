"""Rendering the feedback report: HTML (mail, web page or print) and plain text.

The templates in ``mail_templates/feedback`` only print the ready values of
:class:`~scoring.feedback.FeedbackFacts`; the filters here only format (a model text in the
reader's language, a whole percentage, a number, a signed change, a key figure with its
unit). Three HTML variants come from one template:

* ``mail``: Outlook-safe — layout tables with widths in px, CSS inlined by css-inline,
  no flex or grid, charts as PNG referenced by ``cid:``;
* ``web``: semantic HTML with a ``<style>`` element and the charts as SVG;
* ``print``: the two-page handout for ledningens genomgång (``print.html.j2``: the summary
  without the details, the areas chart as bars in the areas table, no images and no
  stylesheet — :func:`bot.feedback.pdf.render_pdf` applies ``print.css.j2``).

User-supplied text (the organisation's and the cycle's names, comments) reaches a template
only as the escaped output of ``nh3.clean_text``, so it is shown as text and can never
become markup, whatever autoescaping does.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, partial
from typing import Any, Literal

import css_inline
import jinja2
import nh3
from babel.numbers import format_decimal
from markupsafe import Markup

from bot.feedback.charts import AreasChart, Charts, PointsChart, make_charts
from bot.i18n import environment, gettext, language
from bot.settings import Settings
from conversations.questionnaire import Model, Text
from scoring.feedback import FeedbackFacts, KeyFigure

Variant = Literal["mail", "web", "print"]
SERVICE_NAME = "Infosäkkollen"
_CID_DOMAIN = "infosakkollen.feedback"


@dataclass(frozen=True, slots=True)
class RenderedFeedback:
    html: str  # the mail HTML (for_mail) or the web page
    text: str  # the plain-text version, complete on its own
    images: dict[str, bytes]  # Content-ID (without <>) → PNG, referenced as cid: in the mail HTML
    svg: dict[str, str]  # chart name → SVG (web page and print only)
    charts: Charts
    alt: dict[str, str]  # chart name → alternative text that says the figures


# --------------------------------------------------------------------------- formatting


def _number(value: int | Decimal, lang: str) -> str:
    """A number in the reader's language ("12,5" / "12.5"); Decimal stays exact."""
    return str(format_decimal(value, locale=language(lang)))


def _lang(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("lang", "sv"))


def format_pct(value: int | None, lang: str) -> str:
    """A whole percentage: "27 %" in Swedish (no-break space), "27%" in English."""
    if value is None:
        return "–"
    return f"{value}%" if lang == "en" else f"{value}\u00a0%"


def format_signed(value: int | Decimal | None, lang: str) -> str:
    """A change: "+2", "−1" (minus sign), "±0"; "–" when unknown."""
    if value is None:
        return "–"
    if value == 0:
        return "±0"
    text = _number(value if value > 0 else -value, lang)
    return f"+{text}" if value > 0 else f"\u2212{text}"


_NOW = "\x00now"  # format the figure's own value


def format_key_figure(k: KeyFigure, lang: str, value: str | None = _NOW, option: Text | None = None) -> str:
    """A key figure's value with its unit ("45 %", "4 st", "Inom en vecka"); "–" if unanswered.

    ``value``/``option`` format another value of the same figure (an earlier cycle's).
    """
    raw = k.value if value == _NOW else value
    if raw is None:
        return "–"
    if k.kind == "choice":
        text = option if value != _NOW else k.option_text
        return text.get(lang) if text is not None else raw
    number = _number(Decimal(raw), lang)
    if k.kind == "percent":
        return f"{number}%" if lang == "en" else f"{number}\u00a0%"
    unit = k.unit.get(lang) if k.unit is not None else ""
    return f"{number}\u00a0{unit}" if unit else number


def _clean_user_text(value: str) -> str:
    """User text without control characters (newlines and tabs kept)."""
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


@jinja2.pass_context
def _t(ctx: Mapping[str, Any], text: Text | None) -> str:
    return text.get(_lang(ctx)) if text is not None else ""


@jinja2.pass_context
def _pct(ctx: Mapping[str, Any], value: int | None) -> str:
    return format_pct(value, _lang(ctx))


@jinja2.pass_context
def _num(ctx: Mapping[str, Any], value: int | Decimal) -> str:
    return _number(value, _lang(ctx))


@jinja2.pass_context
def _signed(ctx: Mapping[str, Any], value: int | Decimal | None) -> str:
    return format_signed(value, _lang(ctx))


@jinja2.pass_context
def _kf(ctx: Mapping[str, Any], k: KeyFigure, value: str | None = _NOW, option: Text | None = None) -> str:
    return format_key_figure(k, _lang(ctx), value, option)


_COMPOUND = re.compile(
    r"(?i)(informations|säkerhets|kontinuitets|utbildnings|verksamhets|förbättrings)(?=\w{4})"
)


def soft_hyphens(value: str) -> str:
    """Soft hyphens after the common heads of long Swedish compounds.

    "informationssäkerhetsrisker" is wider than a phone's table column; browsers without
    a Swedish hyphenation dictionary can then still break it ("informations-
    säkerhetsrisker"), and nothing changes where it fits.
    """
    return _COMPOUND.sub("\\1\u00ad", value)


@jinja2.pass_context
def _t_html(ctx: Mapping[str, Any], text: Text | None) -> str:
    return soft_hyphens(text.get(_lang(ctx))) if text is not None else ""


def _user_html(value: str) -> Markup:
    return Markup(nh3.clean_text(_clean_user_text(value)))


def _user_text(value: str) -> str:
    """User text in the plain-text part: verbatim, continuation lines indented."""
    return _clean_user_text(value).replace("\n", "\n    ")


def _ids(values: Any) -> str:
    return ", ".join(str(v) for v in values)


@cache
def _env(html: bool) -> jinja2.Environment:
    env = environment(jinja2.PackageLoader("mail_templates", "feedback"), html=html)
    env.filters.update(
        t=_t_html if html else _t,
        pct=_pct,
        num=_num,
        signed=_signed,
        kf=_kf,
        ids=_ids,
        user=_user_html if html else _user_text,
    )
    return env


@cache
def _css(name: str) -> str:
    env = _env(True)
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


@cache
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


# --------------------------------------------------------------------------- charts


def chart_data(model: Model, facts: FeedbackFacts, lang: str) -> tuple[AreasChart, PointsChart]:
    """The translated inputs of the two charts."""
    g = partial(gettext, lang)
    areas = AreasChart(
        names=tuple(a.name.get(lang) for a in facts.areas),
        levels=tuple(a.level for a in facts.areas),
        overall=facts.level.level,
        top=facts.level.top,
        overall_label=g("Er nivå: %(n)s", n=facts.level.level),
        axis_label=g("Indikativ nivå (0 = under nivå 1)"),
    )
    thresholds = tuple(
        (g("Nivå %(n)s\n%(k)s p", n=t.level, k=t.points_required), t.points_required)
        for t in facts.thresholds
    )
    n = facts.next
    if n is not None:
        level, required, certain_required = n.level, n.points_required, n.certain_required
        mandatory, movable, certain_now = n.mandatory_points, n.movable_missing, n.certain_now
    else:  # at the top: the margins of the level reached
        top = facts.thresholds[-1]
        level, required, certain_required = top.level, top.points_required, top.certain_required
        mandatory, movable, certain_now = 0, 0, facts.certainty.certain
    legend: list[tuple[str, str]] = [("now", g("Poäng nu"))]
    if n is not None:
        legend += [
            ("mandatory", g("Lyfta till minst %(n)s", n=level)),
            ("movable", g("Rörliga poäng")),
            ("certain_missing", g("Säkra som saknas")),
        ]
    points = PointsChart(
        points_title=g("Poäng: %(p)s nu, %(k)s krävs för nivå %(n)s", p=facts.points, k=required, n=level),
        points_now=facts.points,
        points_required=required,
        points_max=facts.points_max,
        mandatory=mandatory,
        movable=movable,
        thresholds=thresholds,
        certain_title=g("Säkra bedömningar: %(c)s nu, %(r)s krävs", c=certain_now, r=certain_required),
        certain_now=certain_now,
        certain_required=certain_required,
        certain_max=facts.questions_total,
        legend=tuple(legend),
    )
    return areas, points


def chart_alt(facts: FeedbackFacts, lang: str) -> dict[str, str]:
    """Alternative texts that say every figure of the charts."""
    g = partial(gettext, lang)
    areas = "; ".join(f"{a.name.get(lang)}: {a.level}" for a in facts.areas)
    alt_areas = g(
        "Diagram: indikativ nivå per arbetsområde (0–4). %(areas)s. Er samlade nivå: %(n)s.",
        areas=areas,
        n=facts.level.level,
    )
    n = facts.next
    if n is not None:
        alt_points = g(
            "Diagram: %(p)s poäng nu av %(k)s som krävs för nivå %(n)s; %(m)s poäng för att lyfta frågor till "
            "miniminivån och %(v)s rörliga poäng saknas. Säkra bedömningar: %(c)s nu av %(r)s som krävs.",
            p=facts.points, k=n.points_required, n=n.level, m=n.mandatory_points, v=n.movable_missing,
            c=n.certain_now, r=n.certain_required,
        )  # fmt: skip
    else:
        top = facts.thresholds[-1]
        alt_points = g(
            "Diagram: %(p)s poäng, %(k)s krävs för nivå %(n)s. Säkra bedömningar: %(c)s av %(r)s som krävs.",
            p=facts.points, k=top.points_required, n=top.level, c=facts.certainty.certain, r=top.certain_required,
        )  # fmt: skip
    return {"areas": alt_areas, "points": alt_points}


def _cid(name: str, png: bytes) -> str:
    return f"{name}-{hashlib.sha256(png).hexdigest()[:16]}@{_CID_DOMAIN}"


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- rendering


def _context(
    model: Model,
    facts: FeedbackFacts,
    *,
    organisation_name: str,
    cycle_name: str,
    lang: str,
    settings: Settings,
    variant: Variant,
    image_src: Mapping[str, str],
    image_size: Mapping[str, tuple[int, int]],
    alt: Mapping[str, str],
    submit_url: str | None,
    plain: bool = False,
) -> dict[str, Any]:
    user = _user_text if plain else _user_html
    return {
        "lang": lang,
        "f": facts,
        "model": model,
        "variant": variant,
        "mail": variant == "mail",
        "organisation": user(organisation_name),
        "cycle": user(cycle_name),
        "authority": settings.authority_name,
        "service": SERVICE_NAME,
        "base_url": settings.base_url.rstrip("/"),
        "method_support_url": settings.method_support_url,
        "img": image_src,
        "img_size": image_size,
        "alt": alt,
        "submit_url": submit_url,
        "css": _css("feedback.css.j2") if variant == "web" else "",
    }


def _pick_lang(model: Model, lang: str) -> str:
    return lang if lang in model.languages else model.default_language


def render_text(
    model: Model,
    facts: FeedbackFacts,
    *,
    organisation_name: str,
    cycle_name: str,
    lang: str,
    settings: Settings,
) -> str:
    """The plain-text report: every figure of the HTML, readable without it."""
    lang = _pick_lang(model, lang)
    ctx = _context(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang, settings=settings,
        variant="mail", image_src={}, image_size={}, alt={}, submit_url=None, plain=True,
    )  # fmt: skip
    text = _env(False).get_template("feedback.txt.j2").render(ctx)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(
    model: Model,
    facts: FeedbackFacts,
    *,
    organisation_name: str,
    cycle_name: str,
    lang: str,
    settings: Settings,
    variant: Variant,
    charts: Charts,
    submit_url: str | None = None,
) -> tuple[str, dict[str, bytes]]:
    """One HTML variant and, for mail, its CID images."""
    lang = _pick_lang(model, lang)
    if variant == "print":  # the handout draws its own chart: ``charts`` is not needed
        html = _render_print(
            model,
            facts,
            organisation_name=organisation_name,
            cycle_name=cycle_name,
            lang=lang,
            settings=settings,
        )
        return html, {}
    alt = chart_alt(facts, lang)
    images: dict[str, bytes] = {}
    src: dict[str, str] = {}
    for name, png in charts.png.items():
        if variant == "mail":
            cid = _cid(name, png)
            images[cid] = png
            src[name] = f"cid:{cid}"
        elif name in charts.svg:
            src[name] = _data_uri("image/svg+xml", charts.svg[name].encode("utf-8"))
        else:
            src[name] = _data_uri("image/png", png)
    ctx = _context(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang, settings=settings,
        variant=variant, image_src=src, image_size=charts.size, alt=alt, submit_url=submit_url,
    )  # fmt: skip
    html = _env(True).get_template("feedback.html.j2").render(ctx)
    if variant == "mail":
        css = _css("feedback.css.j2")
        html = html.replace("</head>", f"<style>{css}</style></head>", 1)
        html = _inliner().inline(html)
        html = html.replace("</head>", f"<style>{_css('mobile.css.j2')}</style></head>", 1)
    return html, images


def print_stylesheet() -> str:
    """The PDF's stylesheet (A4, running head, page numbers), for :mod:`bot.feedback.pdf`."""
    return _css("print.css.j2")


# The handout's areas chart column (print.css.j2 ``.areas .chart``): bars up to this wide,
# with this padding on the right; the organisation's level is one mark placed from the right.
_CHART_MM = 38.0
_CHART_PAD_MM = 5 * 25.4 / 72  # 5 pt


def _render_print(
    model: Model, facts: FeedbackFacts, *, organisation_name: str, cycle_name: str, lang: str, settings: Settings
) -> str:  # fmt: skip
    """The PDF handout's HTML: the summary, with the areas chart as bars in the areas table."""
    ctx = _context(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang, settings=settings,
        variant="print", image_src={}, image_size={}, alt={}, submit_url=None,
    )  # fmt: skip
    top = max(facts.level.top, 1)
    # level 0 keeps a sliver, as in the charts
    ctx["bars"] = [round(100 * max(a.level, 0.04) / top, 1) for a in facts.areas]
    ctx["mark_right"] = round(_CHART_PAD_MM + _CHART_MM * (1 - facts.level.level / top), 2)
    ctx["overall_label"] = gettext(lang, "Er nivå: %(n)s", n=facts.level.level)
    ctx["blockers"] = {g.id: g.blockers for g in facts.next.by_area} if facts.next else {}
    return _env(True).get_template("print.html.j2").render(ctx)


def render_feedback(
    model: Model,
    facts: FeedbackFacts,
    *,
    organisation_name: str,
    cycle_name: str,
    lang: str,
    settings: Settings,
    for_mail: bool,
    charts: Charts | None = None,
    submit_url: str | None = None,
) -> RenderedFeedback:
    """The report as HTML (mail or web page), plain text and charts.

    ``charts`` reuses charts already drawn for this report (see :func:`draw_charts`);
    ``submit_url`` (web page only) is where the "skicka in" button posts.
    """
    lang = _pick_lang(model, lang)
    if charts is None or (not for_mail and not charts.svg):
        charts = draw_charts(model, facts, lang, svg=not for_mail)
    html, images = render_html(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang, settings=settings,
        variant="mail" if for_mail else "web", charts=charts, submit_url=submit_url,
    )  # fmt: skip
    text = render_text(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang, settings=settings
    )
    return RenderedFeedback(html, text, images, dict(charts.svg), charts, chart_alt(facts, lang))


def draw_charts(model: Model, facts: FeedbackFacts, lang: str, *, svg: bool = False) -> Charts:
    """The report's charts: PNG always, SVG when asked for."""
    areas, points = chart_data(model, facts, _pick_lang(model, lang))
    return make_charts(areas, points, svg=svg)


def subject(facts: FeedbackFacts, *, organisation_name: str, cycle_name: str, lang: str) -> str:
    """The mail subject: service, cycle, organisation and level, on one line."""
    level = (
        gettext(lang, "under nivå 1")
        if facts.level.level == 0
        else gettext(lang, "nivå %(n)s", n=facts.level.level)
    )
    text = gettext(
        lang,
        "Återkoppling %(service)s %(cycle)s: %(org)s – %(level)s",
        service=SERVICE_NAME,
        cycle=cycle_name,
        org=organisation_name,
        level=level,
    )
    return " ".join(_clean_user_text(text).split())


__all__ = [
    "RenderedFeedback",
    "chart_alt",
    "chart_data",
    "draw_charts",
    "format_key_figure",
    "format_pct",
    "format_signed",
    "print_stylesheet",
    "render_feedback",
    "render_html",
    "render_text",
    "subject",
]
