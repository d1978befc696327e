"""The national report's outputs without a database: tables, XLSX (a sheet per table, read back
with openpyxl), CSV, JSON and the HTML page; plus the synthetic data's properties."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import openpyxl
import orjson
import pytest

from bot.analysis.export import csv_bytes, csv_zip, tables, to_json, xlsx_bytes
from bot.analysis.html import render_body, render_page
from bot.analysis.load import CycleInfo, Organisations, ScoredCycle
from bot.analysis.national import analyse, spearman
from bot.analysis.synthetic import COUNTIES, MAIL_DOMAIN, SIZE_CLASSES, DemoData, generate
from bot.organisations import luhn_ok
from conversations.questionnaire import Model
from scoring.batch import batch_scorer_for


def scored(model: Model, data: DemoData, k: int) -> ScoredCycle:
    """A cycle of synthetic data scored as ``bot.analysis.load`` would, without a database."""
    cyc = data.cycles[k]
    rows = [r for r, s in enumerate(cyc.status) if s == "submitted"]
    scores = batch_scorer_for(model).score_arrays(cyc.codes[rows])
    figures = np.full((len(rows), len(model.validation_questions)), np.nan)
    for i, r in enumerate(rows):
        for j, v in enumerate(model.validation_questions):
            value = cyc.validation[r].get(v.id)
            if value is not None:
                figures[i, j] = [o.id for o in v.options].index(value) if v.kind == "choice" else float(value)
    info = CycleInfo(k + 1, cyc.name, cyc.launch, cyc.deadline, model.id, model.version)
    org_ids = cyc.org[rows] + 1
    return ScoredCycle(info, model, org_ids, org_ids + 1000 * (k + 1), scores, scores.level, figures,
                       tuple(v.id for v in model.validation_questions), 0)  # fmt: skip


def report_of(model: Model, data: DemoData, min_group: int = 5) -> dict[str, Any]:
    orgs = Organisations(
        np.arange(1, len(data.organisations) + 1, dtype=np.int64),
        [o.type for o in data.organisations],
        [o.size_class for o in data.organisations],
        [o.county for o in data.organisations],
    )
    cycles = [scored(model, data, k) for k in range(len(data.cycles))]
    return analyse(cycles[-1], cycles[:-1], orgs, min_group=min_group)


@pytest.fixture(scope="module")
def demo(model: Model) -> DemoData:
    return generate(model, 400, 2, seed=2)


@pytest.fixture(scope="module")
def report(model: Model, demo: DemoData) -> dict[str, Any]:
    return report_of(model, demo)


def test_xlsx_has_a_sheet_per_table_and_reads_back(model: Model, report: dict[str, Any]) -> None:
    ts = tables(report, model, "sv")
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(ts)))
    assert book.sheetnames == [t.name for t in ts]
    assert len(set(book.sheetnames)) == len(ts) and all(len(n) <= 31 for n in book.sheetnames)
    for t in ts:
        rows = list(book[t.name].values)
        assert rows[0][0] == t.title
        assert tuple(rows[1][: len(t.columns)]) == t.columns
        assert len(rows) - 2 == len(t.rows)
        for got, want in zip(rows[2:], t.rows, strict=True):
            assert list(got[: len(want)]) == list(want), t.name
    levels = list(book["levels"].values)
    assert [r[1] for r in levels[2:]] == [report["levels"][str(n)] for n in range(5)]


def test_csv_reads_back(model: Model, report: dict[str, Any]) -> None:
    ts = tables(report, model, "en")
    for t in ts:
        rows = list(csv.reader(io.StringIO(csv_bytes(t).decode("utf-8"))))
        assert tuple(rows[0]) == t.columns
        assert rows[1:] == [["" if v is None else str(v) for v in r] for r in t.rows]
    assert csv_zip(ts)[:2] == b"PK"


def test_json_round_trip(report: dict[str, Any]) -> None:
    back = orjson.loads(to_json(report))
    assert back == orjson.loads(orjson.dumps(report))
    assert {"cycle", "submitted", "levels", "by_type", "areas", "blocking_questions",
            "uncertainty_by_question", "validation", "trend"} <= set(back)  # fmt: skip
    assert set(back["by_type"]) == {"kommun", "region", "myndighet"}
    assert sum(back["levels"].values()) == back["submitted"]


class _Tags(HTMLParser):
    VOID = frozenset({"meta", "link", "br", "img", "input", "rect", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> with {self.stack[-3:]}")
        else:
            self.stack.pop()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_html_page(model: Model, report: dict[str, Any], lang: str) -> None:
    page = render_page(report, model, lang, authority="MCF")
    parser = _Tags()
    parser.feed(page)
    assert not parser.errors and not parser.stack
    assert {"table", "caption", "th", "svg", "title", "desc", "figure"} <= parser.seen
    assert f'<html lang="{lang}">' in page and "<script" not in page
    assert page.count('role="img"') >= 5
    heading = "Nationell analys, omgång" if lang == "sv" else "National analysis, cycle"
    assert f"{heading} {report['cycle']}" in page
    body = str(render_body(report, model, lang, exports=[("JSON", "/x.json")]))
    assert " style=" not in body  # a strict Content-Security-Policy allows no inline styles
    assert 'href="/x.json"' in body


def test_small_groups_are_marked(model: Model, demo: DemoData) -> None:
    report = report_of(model, demo, min_group=12)
    groups = [g for t in report["by_size"].values() for g in t.values()] + list(report["by_county"].values())
    assert any(g["small"] for g in groups) and not all(g["small"] for g in groups)
    assert all(g["small"] == (g["n"] < 12) for g in groups)
    page = render_page(report, model, "sv", authority="MCF")
    assert 'class="small-group"' in page


def test_spearman() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert spearman(x, x) == 1.0 and spearman(x, -x) == -1.0
    assert spearman(x, np.ones(4)) is None
    assert spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([0.0, 1.0, 1.0, 2.0])) == 1.0


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_organisations_are_realistic(model: Model) -> None:
    data = generate(model, 700, 1, seed=9)
    orgs = data.organisations
    assert len({o.orgnr for o in orgs}) == len(orgs) and all(luhn_ok(o.orgnr) for o in orgs)
    assert len({o.name for o in orgs}) == len(orgs)
    types = {t: sum(1 for o in orgs if o.type == t) for t in ("kommun", "region", "myndighet")}
    assert types["region"] == 21 and 250 <= types["kommun"] <= 350
    regions = [o for o in orgs if o.type == "region"]
    assert len({o.county for o in regions}) == 21
    counties = {c for c, _, _ in COUNTIES}
    assert all(o.county in counties for o in orgs)
    assert all(o.size_class in [s for s, _ in SIZE_CLASSES[o.type]] for o in orgs)
    assert all(
        c.email.endswith(f"@{o.domain}") and o.domain.endswith(MAIL_DOMAIN) for o in orgs for c in o.contacts
    )
    assert all(any(c.coordinator for c in o.contacts) and any(c.manager for c in o.contacts) for o in orgs)
    assert all(re.fullmatch(r"\d{10}", o.orgnr) for o in orgs)


def test_synthetic_levels_follow_the_real_rounds(model: Model) -> None:
    data = generate(model, 3000, 3, seed=1)
    b = batch_scorer_for(model)
    below = []
    for cyc in data.cycles:
        rows = [r for r, s in enumerate(cyc.status) if s == "submitted"]
        below.append(float((b.score_arrays(cyc.codes[rows]).level == 0).mean()))
        share = len(rows) / len(data.organisations)
        assert 0.7 < share < 0.9  # a share of the organisations do not submit
    assert below[0] == pytest.approx(0.82, abs=0.035)  # 82 % in 2021
    assert below[1] == pytest.approx(0.69, abs=0.035)  # 69 % in 2023
    assert below[2] < below[1]  # and improving modestly after that
    assert [c.name for c in data.cycles] == ["2021", "2023", "2025"]


def test_synthetic_data_is_reproducible(model: Model) -> None:
    a, b, c = generate(model, 60, 2, seed=3), generate(model, 60, 2, seed=3), generate(model, 60, 2, seed=4)
    assert a.organisations == b.organisations and a.organisations != c.organisations
    assert all((x.codes == y.codes).all() for x, y in zip(a.cycles, b.cycles, strict=True))
    assert [x.validation for x in a.cycles] == [y.validation for y in b.cycles]


def test_score_arrays_agree_with_the_json_results(model: Model, demo: DemoData) -> None:
    """``BatchScorer.score_arrays`` (used by the analysis) says what ``score_rows`` says."""
    b = batch_scorer_for(model)
    cyc = demo.cycles[1]
    codes = cyc.codes
    arrays = b.score_arrays(codes)
    lines = b.score_rows([list(r) for r in codes.tolist()], [{} for _ in range(len(codes))])
    assert len(lines) == len(codes) > 300
    for i, line in enumerate(lines):
        doc = orjson.loads(line)
        assert int(arrays.level[i]) == doc["level"] and int(arrays.total[i]) == doc["points"]
        assert {a: int(arrays.areas[i, k]) for k, a in enumerate(arrays.area_ids)} == doc["areas"]
        for k, qid in enumerate(arrays.ids):
            q = doc["questions"][qid]
            assert int(arrays.points[i, k]) == q["points"]
            assert (bool(arrays.certain[i, k]) if arrays.answered[i, k] else None) == q["certain"]
        below = [arrays.ids[k] for k in range(len(arrays.ids)) if arrays.blocking[i, k]]
        assert below == (doc["next_level"]["below_minimum"] if "next_level" in doc else [])
