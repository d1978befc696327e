"""The national report as tables: one CSV file or one XLSX sheet per table, and JSON.

:func:`tables` flattens the report dict of :mod:`bot.analysis.national` into
:class:`Table` values with translated headings; the writers only write them. File and
sheet names are stable ASCII names (``levels``, ``by_type``, …, at most 31 characters as
Excel requires); headings are in the chosen language. XLSX is written with XlsxWriter in
``constant_memory`` mode (rows go to disk as they are written), shares with a percentage
format, and small groups (fewer organisations than benchmarking may show) marked.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import xlsxwriter

from bot.i18n import gettext
from conversations.questionnaire import Model

TYPE_NAMES = {"kommun": "Kommuner", "region": "Regioner", "myndighet": "Statliga myndigheter"}


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # file and sheet name: ASCII, at most 31 characters
    title: str  # translated
    columns: tuple[str, ...]  # translated headings
    rows: list[tuple[Any, ...]]
    share_columns: frozenset[int] = frozenset()  # shown as percentages in XLSX


def type_name(t: str, lang: str) -> str:
    return gettext(lang, TYPE_NAMES.get(t, t))


def group_name(value: str, lang: str) -> str:
    return gettext(lang, "okänd") if value == "unknown" else value


def size_key(size: str) -> tuple[float, int, str]:
    """Size classes in size order: by their first number, "under N" before "N–…"."""
    m = re.search(r"\d[\d\s\u00a0]*", size)
    number = float(re.sub(r"\D", "", m.group(0))) if m else float("inf")
    return (number, 0 if size.lower().startswith("under") else 1, size)


def level_headings(top: int, lang: str) -> tuple[str, ...]:
    g: Callable[..., str] = lambda m, **kw: gettext(lang, m, **kw)  # noqa: E731
    return tuple(g("Under nivå 1") if n == 0 else g("Nivå %(n)s", n=n) for n in range(top + 1))


def tables(report: dict[str, Any], model: Model, lang: str) -> list[Table]:
    """Every table of the report, in reading order."""

    def g(message: str, **values: Any) -> str:
        return gettext(lang, message, **values)

    top = len(report["levels"]) - 1
    lv = level_headings(top, lang)
    levels = [str(n) for n in range(top + 1)]
    out: list[Table] = []
    trend_cycles = report["trend"]["cycles"]
    out.append(
        Table(
            "summary",
            g("Sammanfattning"),
            (g("Uppgift"), g("Värde")),
            [
                (g("Omgång"), report["cycle"]),
                (g("Modell"), f"{report['model']['id']} v{report['model']['version']}"),
                (g("Inskickade svar"), report["submitted"]),
                (g("Andel under nivå 1"), report["level_shares"]["0"]),
                *(
                    (g("Registrerade: %(t)s", t=type_name(t, lang)), n)
                    for t, n in report["participation"]["registered"].items()
                ),
                *(
                    (g("Inskickade: %(t)s", t=type_name(t, lang)), n)
                    for t, n in report["participation"]["submitted"].items()
                ),
                (g("Tidigare omgångar i jämförelsen"), len(trend_cycles) - 1),
                (g("Minsta grupp som visas för organisationer"), report["small_group"]),
                (g("Svar som modellen inte tillåter (utelämnade)"), report["unreadable_answers"]),
            ],
        )
    )
    out.append(
        Table(
            "levels",
            g("Nivåer"),
            (g("Nivå"), g("Antal"), g("Andel")),
            [(lv[i], report["levels"][k], report["level_shares"][k]) for i, k in enumerate(levels)],
            frozenset({2}),
        )
    )
    out.append(
        Table(
            "by_type",
            g("Nivåer per organisationstyp"),
            (g("Typ"), g("Antal"), *lv, g("Andel under nivå 1")),
            [
                (
                    type_name(t, lang),
                    sum(c.values()),
                    *(c[k] for k in levels),
                    _share(c["0"], sum(c.values())),
                )
                for t, c in report["by_type"].items()
            ],
            frozenset({top + 3}),
        )
    )
    rows = []
    for t, sizes in report["by_size"].items():
        for size, entry in sorted(sizes.items(), key=lambda kv: size_key(kv[0])):
            rows.append(
                (
                    type_name(t, lang),
                    group_name(size, lang),
                    entry["n"],
                    *(entry["levels"][k] for k in levels),
                    g("ja") if entry["small"] else "",
                )
            )
    out.append(
        Table(
            "by_size",
            g("Nivåer per storleksklass"),
            (g("Typ"), g("Storleksklass"), g("Antal"), *lv, g("Liten grupp")),
            rows,
        )
    )
    out.append(
        Table(
            "by_county",
            g("Nivåer per län"),
            (g("Län"), g("Antal"), *lv, g("Liten grupp")),
            [
                (
                    group_name(county, lang),
                    e["n"],
                    *(e["levels"][k] for k in levels),
                    g("ja") if e["small"] else "",
                )
                for county, e in report["by_county"].items()
            ],
        )
    )
    out.append(
        Table(
            "areas",
            g("Arbetsområdenas indikativa nivåer"),
            (g("Område"), g("Namn"), *lv, g("Medelnivå"), g("Andel på nivå 1 eller högre")),
            [
                (
                    aid,
                    _area_name(model, aid, lang),
                    *(a["levels"][k] for k in levels),
                    a["mean_level"],
                    a["at_least_1"],
                )
                for aid, a in report["areas"].items()
            ],
            frozenset({top + 4}),
        )
    )
    types = list(report["areas_by_type"])
    out.append(
        Table(
            "areas_by_type",
            g("Medelnivå per område och organisationstyp"),
            (g("Område"), g("Namn"), *(type_name(t, lang) for t in types)),
            [
                (aid, _area_name(model, aid, lang), *(report["areas_by_type"][t][aid] for t in types))
                for aid in report["areas"]
            ],
        )
    )
    rows = []
    for step in report["blocking_questions"]:
        for q in step["questions"]:
            rows.append(
                (
                    step["from_level"],
                    step["to_level"],
                    q["question"],
                    _question_text(model, q["question"], lang),
                    q["level"],
                    " ".join(q["areas"]),
                    step["organisations"],
                    q["count"],
                    q["share"],
                )
            )
    out.append(
        Table(
            "blocking_questions",
            g("Frågor som oftast hindrar nästa nivå"),
            (
                g("Från nivå"),
                g("Till nivå"),
                g("Fråga"),
                g("Frågetext"),
                g("Frågans nivå"),
                g("Områden"),
                g("Organisationer på nivån"),
                g("Under miniminivån"),
                g("Andel"),
            ),
            rows,
            frozenset({8}),
        )
    )
    out.append(
        Table(
            "blocking_conditions",
            g("Villkor som inte uppfylls för nästa nivå"),
            (
                g("Från nivå"),
                g("Till nivå"),
                g("Organisationer på nivån"),
                g("Poäng som krävs"),
                g("För få poäng"),
                g("Säkra bedömningar som krävs"),
                g("För få säkra bedömningar"),
            ),
            [
                (
                    s["from_level"],
                    s["to_level"],
                    s["organisations"],
                    s["points_required"],
                    s["below_points"],
                    s["certain_required"],
                    s["below_certain"],
                )
                for s in report["blocking_questions"]
            ],
        )
    )
    out.append(
        Table(
            "uncertainty",
            g("Osäkra bedömningar per fråga"),
            (
                g("Fråga"),
                g("Frågetext"),
                g("Nivå"),
                g("Besvarade"),
                g("Osäkra"),
                g("Obesvarade"),
                g("Andel osäkra"),
            ),
            [
                (
                    qid,
                    _question_text(model, qid, lang),
                    u["level"],
                    u["answered"],
                    u["uncertain"],
                    u["unanswered"],
                    u["rate"],
                )
                for qid, u in report["uncertainty_by_question"].items()
            ],
            frozenset({6}),
        )
    )
    numeric = {k: v for k, v in report["validation"].items() if v["kind"] != "choice"}
    out.append(
        Table(
            "validation",
            g("Nyckeltal"),
            (
                g("Nyckeltal"),
                g("Fråga"),
                g("Slag"),
                g("Besvarade"),
                g("Nedre kvartil"),
                g("Median"),
                g("Övre kvartil"),
                g("Medelvärde"),
                g("Rangkorrelation med nivån"),
            ),
            [
                (
                    vid,
                    _validation_text(model, vid, lang),
                    v["kind"],
                    v["answered"],
                    v["q1"],
                    v["median"],
                    v["q3"],
                    v["mean"],
                    v["spearman_level"],
                )
                for vid, v in numeric.items()
            ],
        )
    )
    out.append(
        Table(
            "validation_by_level",
            g("Nyckeltal per nivå"),
            (
                g("Nyckeltal"),
                g("Nivå"),
                g("Besvarade"),
                g("Nedre kvartil"),
                g("Median"),
                g("Övre kvartil"),
                g("Medelvärde"),
            ),
            [
                (vid, lv[int(k)], e["answered"], e["q1"], e["median"], e["q3"], e["mean"])
                for vid, v in numeric.items()
                for k, e in v["by_level"].items()
            ],
        )
    )
    rows = []
    for vid, v in report["validation"].items():
        if v["kind"] != "choice":
            continue
        vq = model.validation_question(vid)
        for letter, count in v["counts"].items():
            opt = next((o for o in vq.options if o.id == letter), None) if vq is not None else None
            rows.append(
                (
                    vid,
                    letter,
                    opt.text.get(lang) if opt is not None else letter,
                    count,
                    *(v["by_level"][k][letter] for k in levels),
                )
            )
    out.append(
        Table(
            "validation_choices",
            g("Nyckeltal med svarsalternativ"),
            (g("Nyckeltal"), g("Alternativ"), g("Text"), g("Antal"), *lv),
            rows,
        )
    )
    out.append(
        Table(
            "trend",
            g("Utveckling över omgångarna"),
            (
                g("Omgång"),
                g("Modell"),
                g("Version"),
                g("Samma modellversion"),
                g("Inskickade"),
                *lv,
                g("Andel under nivå 1"),
                g("Medelpoäng"),
            ),
            [
                (
                    c["cycle"],
                    c["model"]["id"],
                    c["model"]["version"],
                    g("ja") if c["same_model"] else g("nej"),
                    c["submitted"],
                    *(c["levels"][k] for k in levels),
                    c["below_level_1"],
                    c.get("mean_points"),
                )
                for c in trend_cycles
            ],
            frozenset({5 + top + 1}),
        )
    )
    out.append(
        Table(
            "trend_paired",
            g("Samma organisationer i en tidigare omgång"),
            (
                g("Tidigare omgång"),
                g("Samma modellversion"),
                g("Organisationer i båda"),
                g("Högre nivå"),
                g("Samma nivå"),
                g("Lägre nivå"),
                g("Anmärkning"),
            ),
            [
                (
                    p["cycle"],
                    g("ja") if p["same_model"] else g("nej"),
                    p["organisations"],
                    p.get("improved"),
                    p.get("unchanged"),
                    p.get("declined"),
                    p["note"],
                )
                for p in report["trend"]["paired"]
            ],
        )
    )
    out.append(
        Table(
            "trend_transitions",
            g("Nivåförändringar för samma organisationer"),
            (g("Tidigare omgång"), g("Nivå då"), g("Nivå nu"), g("Antal")),
            [
                (p["cycle"], lv[int(b)], lv[int(a)], count)
                for p in report["trend"]["paired"]
                if "transitions" in p
                for b, row in p["transitions"].items()
                for a, count in row.items()
            ],
        )
    )
    out.append(
        Table(
            "trend_questions",
            g("Jämförbara frågor när modellen har ändrats"),
            (g("Tidigare omgång"), g("Fråga"), g("Medelpoäng då"), g("Medelpoäng nu")),
            [
                (p["cycle"], q, v["before"], v["after"])
                for p in report["trend"]["paired"]
                if "question_points" in p
                for q, v in p["question_points"].items()
            ],
        )
    )
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _area_name(model: Model, aid: str, lang: str) -> str:
    area = model.area(aid)
    return area.name.get(lang) if area is not None else aid


def _question_text(model: Model, qid: str, lang: str) -> str:
    q = model.question(qid)
    return q.text.get(lang) if q is not None else qid


def _validation_text(model: Model, vid: str, lang: str) -> str:
    v = model.validation_question(vid)
    return v.text.get(lang) if v is not None else vid


# --------------------------------------------------------------------------- writers


def to_json(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"


def _csv_value(value: Any) -> Any:
    return "" if value is None else value


def csv_bytes(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8")


def write_csv(tables_: Sequence[Table], directory: Path) -> list[Path]:
    """One ``NAME.csv`` per table in ``directory`` (created); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tables_:
        path = directory / f"{t.name}.csv"
        path.write_bytes(csv_bytes(t))
        paths.append(path)
    return paths


def csv_zip(tables_: Sequence[Table]) -> bytes:
    """Every table's CSV in one ZIP archive (for a download)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for t in tables_:
            z.writestr(f"{t.name}.csv", csv_bytes(t))
    return buf.getvalue()


def xlsx_bytes(tables_: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table: a title row, headings, then the rows."""
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(
        buf, {"constant_memory": True, "in_memory": False, "strings_to_numbers": False}
    )
    title = book.add_format({"bold": True, "font_size": 13})
    head = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
    pct = book.add_format({"num_format": "0.0%"})
    for t in tables_:
        sheet = book.add_worksheet(t.name[:31])
        sheet.write_string(0, 0, t.title, title)
        for c, heading in enumerate(t.columns):
            sheet.write_string(1, c, heading, head)
            width = max([len(heading) // 2 + 2, 8, *(min(60, len(str(r[c]))) + 1 for r in t.rows[:200])])
            sheet.set_column(c, c, min(width, 60))
        sheet.freeze_panes(2, 0)
        for r, row in enumerate(t.rows, start=2):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value, pct if c in t.share_columns else None)
                else:
                    sheet.write_string(r, c, str(value))
    book.close()
    return buf.getvalue()
