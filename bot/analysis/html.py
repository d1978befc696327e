"""The national report as HTML: a standalone page (``report national --format html``) and the
body of the administrators' analysis page.

The page is built from the same tables as the exports (:func:`bot.analysis.export.tables`),
each an accessible ``<table>`` with a caption and header cells, and SVG charts
(:mod:`bot.analysis.svg`) that say their figures in ``<desc>``. Sections follow the seed's
analysis: levels (overall, by type, size class, county), work areas, what blocks the next
level, unclear questions, key figures, trends. Small groups are marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from babel.numbers import format_decimal
from markupsafe import Markup

from bot.analysis.export import Table, level_headings, tables, type_name
from bot.analysis.svg import bars, stacked_shares
from bot.i18n import environment, gettext, language
from conversations.questionnaire import Model


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    num: bool = False
    header: bool = False
    small: bool = False


@dataclass(frozen=True, slots=True)
class ShownTable:
    name: str
    caption: str
    columns: tuple[str, ...]
    rows: list[list[Cell]]


@dataclass(slots=True)
class Section:
    id: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    charts: list[tuple[str, Markup]] = field(default_factory=list)  # (visible caption, SVG)
    tables: list[ShownTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: Any, lang: str, share: bool) -> tuple[str, bool]:
    if value is None:
        return "–", True
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int | float):
        if share:
            return f"{format_decimal(round(100 * value, 1), locale=language(lang))}\u00a0%", True
        return str(format_decimal(value, locale=language(lang))), True
    return str(value), False


def shown(
    table: Table, lang: str, *, small_column: str | None = None, limit: int | None = None
) -> ShownTable:
    """A table with its cells formatted for the reader; rows of small groups are marked."""
    small_at = table.columns.index(small_column) if small_column in table.columns else -1
    rows = []
    for row in table.rows[:limit]:
        small = small_at >= 0 and bool(row[small_at])
        cells = []
        for c, value in enumerate(row):
            text, num = _fmt(value, lang, c in table.share_columns)
            cells.append(Cell(text, num, header=c == 0, small=small))
        rows.append(cells)
    return ShownTable(table.name, table.title, table.columns, rows)


def _chart(svg: Markup, caption: str) -> tuple[str, Markup]:
    return caption, svg


def _sections(report: dict[str, Any], model: Model, lang: str) -> tuple[list[tuple[str, str]], list[Section]]:
    def g(message: str, **values: Any) -> str:
        return gettext(lang, message, **values)

    by_name = {t.name: t for t in tables(report, model, lang)}
    top = len(report["levels"]) - 1
    lv = level_headings(top, lang)
    levels = [str(n) for n in range(top + 1)]
    n = report["submitted"]

    def pct(value: float | None) -> str:
        return _fmt(value, lang, True)[0]

    facts = [
        (g("Inskickade svar"), _fmt(n, lang, False)[0]),
        (g("Under nivå 1"), pct(report["level_shares"]["0"])),
        (g("På nivå 1 eller högre"), pct(1 - report["level_shares"]["0"] if n else None)),
    ]
    paired = report["trend"]["paired"]
    if paired and "improved" in paired[0] and paired[0]["organisations"]:
        facts.append(
            (
                g("Högre nivå än %(c)s", c=paired[0]["cycle"]),
                pct(paired[0]["improved"] / paired[0]["organisations"]),
            )
        )
    sections: list[Section] = []

    s = Section("nivaer", g("Nivåer"))
    if report.get("preliminary"):
        s.notes.append(
            g(
                "Preliminärt: omgången är öppen till och med %(d)s, så fler organisationer kan skicka in.",
                d=report["deadline"],
            )
        )
    s.paragraphs.append(
        g("%(n)s organisationer skickade in sitt resultat. Bara inskickade svar ingår i analysen.", n=n)
    )
    caption = g("Nivåer totalt och per organisationstyp")
    s.charts.append(
        _chart(
            stacked_shares(
                caption,
                [(g("Alla"), [report["levels"][k] for k in levels])]
                + [(type_name(t, lang), [c[k] for k in levels]) for t, c in report["by_type"].items()],
                lv,
            ),
            caption,
        )
    )
    s.tables += [shown(by_name["levels"], lang), shown(by_name["by_type"], lang)]
    sections.append(s)

    s = Section("grupper", g("Storleksklass och län"))
    k = report["small_group"]
    s.notes.append(
        g(
            "Grupper med färre än %(k)s organisationer är markerade. De visas här men aldrig för organisationerna "
            "själva, där de slås ihop med en större grupp.",
            k=k,
        )
    )
    s.tables += [
        shown(by_name["by_size"], lang, small_column=g("Liten grupp")),
        shown(by_name["by_county"], lang, small_column=g("Liten grupp")),
    ]
    sections.append(s)

    s = Section("omraden", g("Arbetsområden"))
    caption = g("Indikativ nivå per arbetsområde")
    s.charts.append(
        _chart(
            stacked_shares(
                caption,
                [
                    (
                        _area(model, aid, lang),
                        [a["levels"][k] for k in levels],
                    )
                    for aid, a in report["areas"].items()
                ],
                lv,
                label_width=390,
                width=760,
            ),
            caption,
        )
    )
    s.tables += [shown(by_name["areas"], lang), shown(by_name["areas_by_type"], lang)]
    sections.append(s)

    s = Section("hinder", g("Vad som hindrar nästa nivå"))
    s.paragraphs.append(
        g(
            "För organisationerna på varje nivå: hur många som har en fråga under miniminivån för nästa nivå. "
            "En organisation kan sakna flera."
        )
    )
    for step in report["blocking_questions"]:
        if not step["organisations"] or not step["questions"]:
            continue
        head = step["questions"][:10]
        caption = g(
            "Från %(a)s till nivå %(b)s: de vanligaste hindren (%(n)s organisationer)",
            a=lv[step["from_level"]].lower(),
            b=step["to_level"],
            n=step["organisations"],
        )
        s.charts.append(
            _chart(
                bars(
                    caption,
                    [(q["question"], q["share"] or 0.0, pct(q["share"])) for q in head],
                    label_width=80,
                ),
                caption,
            )
        )
    s.tables += [
        shown(by_name["blocking_conditions"], lang),
        shown(by_name["blocking_questions"], lang, limit=60),
    ]
    sections.append(s)

    s = Section("osakerhet", g("Osäkra bedömningar per fråga"))
    s.paragraphs.append(
        g(
            "Andelen osäkra bedömningar bland besvarade frågor. En hög andel kan tyda på en otydlig fråga eller "
            "på att underlag saknas."
        )
    )
    worst = sorted(report["uncertainty_by_question"].items(), key=lambda kv: -(kv[1]["rate"] or 0))[:10]
    caption = g("De tio frågorna med störst andel osäkra bedömningar")
    s.charts.append(
        _chart(
            bars(caption, [(qid, u["rate"] or 0.0, pct(u["rate"])) for qid, u in worst], label_width=80),
            caption,
        )
    )
    s.tables.append(shown(by_name["uncertainty"], lang))
    sections.append(s)

    s = Section("nyckeltal", g("Nyckeltal"))
    s.paragraphs.append(
        g(
            "Valideringsfrågornas svar påverkar inte nivån. Rangkorrelationen visar hur nyckeltalet följer nivån "
            "(från −1 till 1)."
        )
    )
    s.tables += [
        shown(by_name["validation"], lang),
        shown(by_name["validation_by_level"], lang),
        shown(by_name["validation_choices"], lang),
    ]
    sections.append(s)

    s = Section("utveckling", g("Utveckling över tid"))
    cycles = report["trend"]["cycles"]
    caption = g("Nivåer per omgång (alla som skickade in)")
    s.charts.append(
        _chart(
            stacked_shares(
                caption,
                [
                    (
                        f"{c['cycle']} ({c['model']['id']} v{c['model']['version']})",
                        [c["levels"][k] for k in levels],
                    )
                    for c in cycles
                ],
                lv,
            ),
            caption,
        )
    )
    for p in paired:
        if not p["same_model"]:
            s.notes.append(
                g(
                    "Omgång %(c)s använde modell %(m)s v%(v)s: nivåerna jämförs inte, bara frågor med oförändrat "
                    "id och poängsättning.",
                    c=p["cycle"],
                    m=p["model"]["id"],
                    v=p["model"]["version"],
                )
            )
    s.tables += [shown(by_name["trend"], lang), shown(by_name["trend_paired"], lang)]
    if by_name["trend_transitions"].rows:
        latest = paired[0]["cycle"] if paired else ""
        t = by_name["trend_transitions"]
        s.tables.append(
            shown(
                Table(
                    t.name,
                    g("Nivåförändringar sedan %(c)s för organisationer i båda omgångarna", c=latest),
                    t.columns,
                    [r for r in t.rows if r[0] == latest and r[3]],
                ),
                lang,
            )
        )
    if by_name["trend_questions"].rows:
        s.tables.append(shown(by_name["trend_questions"], lang))
    sections.append(s)
    return facts, sections


def _area(model: Model, aid: str, lang: str) -> str:
    area = model.area(aid)
    return area.name.get(lang) if area is not None else aid


@cache
def _env() -> jinja2.Environment:
    return environment(jinja2.PackageLoader("mail_templates", "analysis"), html=True)


@cache
def stylesheet() -> str:
    return (resources.files("mail_templates") / "analysis" / "analysis.css").read_text(encoding="utf-8")


def render_body(
    report: dict[str, Any], model: Model, lang: str, *, exports: Sequence[tuple[str, str]] = ()
) -> Markup:
    """The report's HTML (inside ``<div class="analysis">``), for a page of its own or the web."""
    lang = language(lang)
    facts, sections = _sections(report, model, lang)
    html = (
        _env()
        .get_template("national_body.html.j2")
        .render(lang=lang, report=report, facts=facts, sections=sections, exports=list(exports))
    )
    return Markup(html)


def render_page(report: dict[str, Any], model: Model, lang: str, *, authority: str) -> str:
    """A standalone HTML document (styles inline, no scripts) of the whole report."""
    lang = language(lang)
    return (
        _env()
        .get_template("national.html.j2")
        .render(
            lang=lang,
            report=report,
            body=render_body(report, model, lang),
            css=Markup(stylesheet()),
            authority=authority,
        )
    )


def title(report: Mapping[str, Any], lang: str) -> str:
    return gettext(lang, "Nationell analys, omgång %(c)s", c=report["cycle"])
