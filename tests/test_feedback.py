"""The feedback report: every figure the engine reports appears where it should.

For each example answer file (levels 0–4) in Swedish and English the complete feedback
mail is built once (facts, charts, HTML, text, PDF, MIME) and checked: the level, the
points, the next level's quick facts, each area's level, each blocking question with its
points, the certainty share, the MSBFS statuses, the projection below level 1 and the key
figures — in the HTML's tables, in the plain text and in the PDF (``pdftotext``). Also:
the MIME structure, user text shown as text, no scripts or foreign addresses, a
comparison with an earlier cycle, and the facts themselves against the engine.

The rendered HTML (mail and web), the PDFs and the .eml files are saved under
``test-artifacts/feedback/`` for people to look at.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from fractions import Fraction
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bot.db.tables import Response
from bot.feedback.mail import attachment_name, feedback_message
from bot.feedback.render import render_feedback, render_html
from bot.i18n import gettext, ngettext
from bot.settings import Settings
from conversations.questionnaire import Model, load_model
from conversations.state import AnswerRecord
from scoring.compare import compare
from scoring.feedback import FeedbackFacts, feedback_facts, percent
from scoring.result import ScoreResult
from scoring.score import score_document

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "feedback"
LEVELS = (0, 1, 2, 3, 4)
LANGS = ("sv", "en")
ORG = "Exempelkommun"
CYCLE = "2027"
NBSP = "\u00a0"
SHY = "\u00ad"


# --------------------------------------------------------------------------- helpers


def settings() -> Settings:
    return Settings(
        secret_key="test-secret",
        var_dir="/nonexistent-feedback-tests",
        reply_domain="svar.example.se",
        base_url="https://infosakkollen.example.se",
        mail_from="Infosäkkollen <infosakkollen@example.se>",
    )


def L(lang: str, message: str, **values: Any) -> str:
    """A label as the reader sees it (the catalog is part of what is tested)."""
    return norm(gettext(lang, message, **values))


def norm(text: str) -> str:
    return " ".join(text.replace(SHY, "").replace(NBSP, " ").split())


def pct(value: int, lang: str) -> str:
    return f"{value}%" if lang == "en" else f"{value} %"


@cache
def example(level: int) -> dict[str, Any]:
    return json.loads((ROOT / "examples" / f"answers-level{level}.json").read_text())


@cache
def result(level: int) -> ScoreResult:
    return score_document(load_model(), example(level), area_details=True)


class Report(NamedTuple):
    model: Model
    result: ScoreResult
    facts: FeedbackFacts
    message: EmailMessage
    raw: bytes
    text: str
    html: str
    images: dict[str, bytes]  # cid -> png
    pdf: bytes
    pdf_text: str  # pdftotext -layout, normalised per line


def pdftotext(pdf: bytes) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext is missing: apt-get install poppler-utils")
    out = subprocess.run(
        [exe, "-layout", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return "\n".join(norm(line) for line in out.stdout.decode("utf-8").splitlines())


def parts(msg: EmailMessage) -> tuple[str, str, dict[str, bytes], bytes]:
    mixed = msg
    related, attachment = mixed.get_payload()  # type: ignore[misc]
    alternative, *images = related.get_payload()
    plain, html = alternative.get_payload()
    pngs = {img["Content-ID"].strip("<>"): img.get_payload(decode=True) for img in images}
    return (
        plain.get_content(),
        html.get_content(),
        pngs,
        attachment.get_payload(decode=True),
    )


def build(level: int, lang: str, *, comparison: Any = None, answers: Any = None, org: str = ORG) -> Report:
    model = load_model()
    r = result(level)
    facts = feedback_facts(model, r, comparison=comparison, answers=answers)
    msg = feedback_message(
        settings(),
        model,
        facts,
        to="ledningen@example.se",
        organisation_name=org,
        cycle_name=CYCLE,
        lang=lang,
    )
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html, images, pdf = parts(parsed)
    return Report(model, r, facts, parsed, raw, text, html, images, pdf, pdftotext(pdf))


@cache
def report(level: int, lang: str) -> Report:
    rep = build(level, lang)
    save_artifacts(f"level{level}-{lang}", rep)
    return rep


def save_artifacts(name: str, rep: Report) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    viewable = rep.html
    for cid, png in rep.images.items():
        viewable = viewable.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
    (ARTIFACTS / f"{name}-mail.html").write_text(viewable, encoding="utf-8")
    (ARTIFACTS / f"{name}.txt").write_text(rep.text, encoding="utf-8")
    (ARTIFACTS / f"{name}.pdf").write_bytes(rep.pdf)
    (ARTIFACTS / f"{name}.eml").write_bytes(rep.raw)
    web = render_feedback(
        rep.model, rep.facts, organisation_name=ORG, cycle_name=CYCLE, lang=rep.message["Content-Language"],
        settings=settings(), for_mail=False, submit_url="https://infosakkollen.example.se/skicka-in",
    )  # fmt: skip
    (ARTIFACTS / f"{name}-web.html").write_text(web.html, encoding="utf-8")


class _Tables(HTMLParser):
    """Tables by id: rows of cell texts; and the text of elements by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.stack: list[str | None] = []  # table ids being read
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.levelnum: list[str] = []
        self._in_levelnum = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.stack.append(a.get("id"))
            if a.get("id"):
                self.tables[a["id"] or ""] = []
        elif tag == "tr" and self.stack and self.stack[-1]:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        if tag == "span" and a.get("class") == "levelnum-value":
            self._in_levelnum = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.stack:
            self.stack.pop()
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(norm("".join(self.cell)))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.stack and self.stack[-1]:
            self.tables[self.stack[-1] or ""].append(self.row)
            self.row = None
        if tag == "span":
            self._in_levelnum = 0

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self._in_levelnum:
            self.levelnum.append(data)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_no_active_content(html: str) -> None:
    """No script, no event handler, no javascript: address, no foreign image."""
    p = _Tags()
    p.feed(html)
    for tag, attrs in p.tags:
        assert tag not in ("script", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action") and value:
                assert not value.strip().lower().startswith(("javascript:", "vbscript:")), value
        if tag == "img":
            assert (attrs.get("src") or "").startswith(("cid:", "data:image/")), attrs


def tables(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def section_text(html: str, section_id: str) -> str:
    """The visible text of one section of the HTML (tags stripped, normalised)."""
    start = html.index(f'id="{section_id}"')
    end = html.find('class="section"', start + 10)
    chunk = html[start : end if end > 0 else len(html)]
    chunk = re.sub(r"<[^>]+>", " ", chunk)
    import html as html_lib

    return norm(html_lib.unescape(chunk))


def text_sections(text: str) -> dict[str, str]:
    """The plain text by heading (an upper-case line underlined with '=')."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    current = "_head"
    buf: list[str] = []
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1].startswith("===") and line.strip() and line == line.upper():
            out[current] = "\n".join(buf)
            current, buf = norm(line), []
            continue
        if line.startswith("===") and i > 0 and lines[i - 1] == lines[i - 1].upper():
            continue
        buf.append(line)
    out[current] = "\n".join(buf)
    return out


def heading(lang: str, message: str, **values: Any) -> str:
    return L(lang, message, **values).upper()


def cases() -> Iterator[Any]:
    for level in LEVELS:
        for lang in LANGS:
            yield pytest.param(level, lang, id=f"level{level}-{lang}")


def key_figure_value(model: Model, vid: str, value: str | None, lang: str) -> str:
    vq = model.validation_question(vid)
    assert vq is not None
    if value is None:
        return "–"
    if vq.kind == "choice":
        opt = next(o for o in vq.options if o.id == value)
        return norm(opt.text.get(lang))
    if vq.kind == "percent":
        return pct(int(value), lang)
    return f"{value} {vq.unit.get(lang)}"


# --------------------------------------------------------------------------- facts


def test_percent_is_rounded_half_up_from_exact_fractions() -> None:
    assert percent(Fraction(27, 100)) == 27
    assert percent(Fraction(4, 15)) == 27  # 26.67
    assert percent(Fraction(53, 200)) == 27  # 26.5 exactly: half up
    assert percent(Fraction(1, 8)) == 13  # 12.5
    assert percent(Fraction(1, 3)) == 33
    assert percent(Fraction(2, 3)) == 67
    assert percent(Fraction(1, 200)) == 1
    assert percent(Fraction(0)) == 0
    assert percent(Fraction(1)) == 100


@pytest.mark.parametrize("level", LEVELS)
def test_facts_carry_the_engines_figures(model: Model, level: int) -> None:
    r = result(level)
    f = feedback_facts(model, r)
    assert r.level == level
    assert f.level.level == r.level and f.points == r.points and f.certain == r.certain
    assert f.answered == r.answered and f.unanswered == 40 - r.answered
    assert {a.id: a.level for a in f.areas} == r.areas
    assert {a.id: a.points for a in f.areas} == r.area_points
    assert [t.points_required for t in f.thresholds] == [23, 65, 123, 180]
    assert [t.certain_required for t in f.thresholds] == [8, 19, 30, 40]
    n = r.next_level
    if n is None:
        assert f.next is None and f.path is None and level == 4
    else:
        assert f.next is not None and f.path is not None
        assert (f.next.points_required, f.next.points_missing) == (n.points_required, n.points_missing)
        assert (f.next.certain_required, f.next.certain_missing) == (n.certain_required, n.certain_missing)
        assert [(b.question.id, b.points, b.needed) for b in f.next.blockers] == [
            (s.question, s.points, s.needed) for s in n.below_minimum
        ]
        grouped = [b.question.id for g in f.next.by_area for b in g.blockers]
        assert sorted(grouped) == sorted(s.question for s in n.below_minimum)  # each blocker once
        assert all(b.question.areas[0] == g.id for g in f.next.by_area for b in g.blockers)
        assert f.path.total == n.cheapest_points == n.mandatory_points + n.movable_missing
        assert sum(s.gain for s in f.path.steps) == f.path.steps_gain
        assert all(s.question.id not in {b.question.id for b in f.next.blockers} for s in f.path.steps)
        for a in f.areas:
            an = r.area_next[a.id]
            assert (a.next is None) == (an is None)
            if a.next is not None and an is not None:
                assert (a.next.points_required, a.next.points_missing) == (
                    an.points_required,
                    an.points_missing,
                )
    c = f.certainty
    if level >= 1:
        assert (c.scope, c.answered, c.uncertain) == (level, r.certainty.answered, r.certainty.uncertain)
    assert c.share == (Fraction(c.uncertain, c.answered) if c.answered else None)
    assert c.percent == (percent(c.share) if c.share is not None else None)
    levels = [u.question.level for u in c.document_first]
    assert levels == sorted(levels)
    assert (f.msbfs.met, f.msbfs.not_met, f.msbfs.unknown) == tuple(
        sum(1 for i in r.msbfs if i.status == s) for s in ("met", "not_met", "unknown")
    )
    assert (f.forward is not None) == (level == 0)
    if f.forward is not None and r.forward_looking is not None:
        assert f.forward.projected_level == r.forward_looking.projected_level
    assert {k.id: k.value for k in f.key_figures if k.value is not None} == r.validation


def test_facts_need_area_details(model: Model) -> None:
    plain = score_document(model, example(2))
    with pytest.raises(ValueError, match="area_details"):
        feedback_facts(model, plain)


def test_certainty_share_under_level_1_counts_level_1_questions(model: Model) -> None:
    f = feedback_facts(model, result(0))
    n = result(0).next_level
    assert n is not None
    assert f.certainty.scope == 1 and f.certainty.questions == 15
    assert f.certainty.answered == 15 - len(n.unanswered)
    assert f.certainty.uncertain == len(n.uncertain)


# --------------------------------------------------------------------------- MIME


@pytest.mark.parametrize(("level", "lang"), list(cases()))
def test_mime_structure_and_safety(level: int, lang: str) -> None:
    rep = report(level, lang)
    msg = rep.message
    assert msg.get_content_type() == "multipart/mixed"
    related, attachment = msg.get_payload()  # type: ignore[misc]
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "multipart/alternative"
    alternative, *images = related.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    assert [p.get_content_type() for p in images] == ["image/png", "image/png"]
    for img in images:
        cid = img["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in rep.html
        assert img.get_content_disposition() == "inline"
        png = img.get_payload(decode=True)
        assert png.startswith(b"\x89PNG") and len(png) < 60_000
        assert int.from_bytes(png[16:20], "big") == 840  # 2× a 420 px wide chart
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "infosakkollen-exempelkommun-2027.pdf"
    assert rep.pdf.startswith(b"%PDF-")
    for header in ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted"):
        assert msg[header]
    assert msg["Content-Language"] == lang
    assert ORG in msg["Subject"] and CYCLE in msg["Subject"]
    # HTML: no scripts, no foreign addresses, Outlook-safe, not clipped by Gmail
    html = rep.html
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert_no_active_content(html)
    for url in re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)""", html):
        assert url.startswith(
            ("cid:", "https://www.informationssakerhet.se/metodstodet/", settings().base_url)
        ), url
    assert "display: flex" not in html and "display: grid" not in html and "var(--" not in html
    assert len(html.encode()) < 102_000  # Gmail clips larger HTML
    assert f'lang="{lang}"' in html
    for tag in re.findall(r"<img[^>]*>", html):
        assert 'alt="' in tag and re.search(r'width="\d+"', tag)
    for th in re.findall(r"<th\b[^>]*>", html):
        assert "scope=" in th
    # text: complete on its own, no markup
    assert re.search(r"<[a-zA-Z/][^>]*>", rep.text) is None
    assert "cid:" not in rep.text


# --------------------------------------------------------------------------- figures


def check_figures_html(rep: Report, lang: str) -> None:
    f, r, html = rep.facts, rep.result, rep.html
    t = tables(html)
    assert norm("".join(t.levelnum)) == str(r.level)
    assert L(lang, "Nivån räknas på alla era svar, inte som ett medelvärde av arbetsområdena. Ni har %(p)s av %(max)s möjliga poäng och har besvarat %(a)s av %(q)s nivågrundande frågor, varav %(c)s är säkra bedömningar.", p=r.points, max=200, a=r.answered, q=40, c=r.certain) in section_text(html, "niva")  # fmt: skip
    facts = {row[0]: row[1] for row in t.tables["facts-table"][1:]}
    n = r.next_level
    if n is not None:
        assert facts[L(lang, "Poäng som krävs")] == str(n.points_required)
        assert facts[L(lang, "Era poäng nu")] == str(r.points)
        assert facts[L(lang, "Poäng som saknas")] == str(n.points_missing)
        assert facts[L(lang, "Frågor under miniminivån (%(n)s poäng)", n=n.level)] == str(
            len(n.below_minimum)
        )
        assert facts[L(lang, "Poäng för att lyfta dem till miniminivån (måste)")] == str(n.mandatory_points)
        assert facts[L(lang, "Rörliga poäng som saknas därefter (från valfria frågor)")] == str(
            n.movable_missing
        )
        assert facts[L(lang, "Minsta poängökning som räcker")] == str(n.cheapest_points)
        assert facts[L(lang, "Säkra bedömningar som krävs")] == str(n.certain_required)
        assert facts[L(lang, "Säkra bedömningar nu")] == str(n.certain_now)
        assert facts[L(lang, "Säkra bedömningar som saknas")] == str(n.certain_missing)
        blockers = t.tables["blockers-table"][1:] if n.below_minimum else []
        assert [(row[0].split()[0], row[1], row[2]) for row in blockers] == [
            (s.question, str(s.points), str(s.needed)) for s in n.below_minimum
        ]
    else:
        assert facts[L(lang, "Poäng som krävs")] == "180" and facts[L(lang, "Era poäng nu")] == str(r.points)
        assert facts[L(lang, "Säkra bedömningar som krävs")] == "40"
        assert "blockers-table" not in t.tables
    areas = {row[0]: row[1:] for row in t.tables["areas-table"][1:]}
    assert len(areas) == 10
    for a in rep.model.areas:
        level, points, missing = areas[norm(a.name.get(lang))]
        assert level == str(r.areas[a.id])
        assert points == L(lang, "%(p)s av %(m)s", p=r.area_points[a.id], m=f.area(a.id).points_max)
        an = r.area_next[a.id]
        assert missing == (str(an.points_missing) if an is not None else "–")
    c = f.certainty
    certainty = section_text(html, "sakerhet")
    if c.percent is not None:
        assert L(lang, "Av era %(a)s svar på frågorna upp till och med nivå %(s)s är %(u)s osäkra bedömningar (%(pct)s).", a=c.answered, s=c.scope, u=c.uncertain, pct=pct(c.percent, lang)) in certainty  # fmt: skip
    m = f.msbfs
    assert L(lang, "Av %(t)s krav: uppfyllt enligt svaren %(met)s, ej uppfyllt %(nm)s, okänt %(unk)s (obesvarade frågor).", t=m.total, met=m.met, nm=m.not_met, unk=m.unknown) in section_text(html, "msbfs")  # fmt: skip
    assert L(lang, "Detta är en indikation, inte en rättslig bedömning.") in section_text(html, "msbfs")
    for status, count in (("met", m.met), ("not_met", m.not_met), ("unknown", m.unknown)):
        assert html.count(f"status status-{status}") == count
    if r.forward_looking is not None:
        assert L(lang, "Prognos: nivå %(n)s vid nästa uppföljning om arbetet är på plats.", n=r.forward_looking.projected_level) in section_text(html, "framatblick")  # fmt: skip
        rows = t.tables["forward-table"][1:]
        assert [row[0].split()[0] for row in rows] == [i.question for i in r.forward_looking.items]
        assert [(row[2], row[3]) for row in rows] == [
            (str(i.points), str(i.projected_points)) for i in r.forward_looking.items
        ]
    else:
        assert 'id="framatblick"' not in html
    figures = {row[0].split()[0]: row[1] for row in t.tables["keyfigures-table"][1:]}
    for vq in rep.model.validation_questions:
        assert figures[vq.id] == key_figure_value(rep.model, vq.id, r.validation.get(vq.id), lang)


@pytest.mark.parametrize(("level", "lang"), list(cases()))
def test_every_figure_in_the_html(level: int, lang: str) -> None:
    check_figures_html(report(level, lang), lang)


@pytest.mark.parametrize(("level", "lang"), list(cases()))
def test_every_figure_in_the_text(level: int, lang: str) -> None:
    rep = report(level, lang)
    r, f = rep.result, rep.facts
    s = text_sections(rep.text)
    level_text = norm(s[heading(lang, "Er nivå")])
    label = L(lang, "Under nivå 1") if r.level == 0 else norm(rep.model.level(r.level).name.get(lang))
    assert f"{L(lang, 'Nivå')}: {r.level} – {label}" in level_text
    assert (L(lang, "Ni har nått modellens högsta nivå.") in level_text) == (r.level == 4)
    quick = s[heading(lang, "Snabba fakta")]
    n = r.next_level
    lines = {
        norm(line[2:].rsplit(":", 1)[0]): norm(line.rsplit(":", 1)[1])
        for line in quick.splitlines()
        if line.startswith("- ")
    }
    if n is not None:
        assert lines[L(lang, "Poäng som krävs")] == str(n.points_required)
        assert lines[L(lang, "Era poäng nu")] == str(r.points)
        assert lines[L(lang, "Poäng som saknas")] == str(n.points_missing)
        assert lines[L(lang, "Säkra bedömningar som krävs")] == str(n.certain_required)
        assert lines[L(lang, "Säkra bedömningar som saknas")] == str(n.certain_missing)
        assert lines[L(lang, "Minsta poängökning som räcker")] == str(n.cheapest_points)
        blockers = s[heading(lang, "Det här hindrar nästa nivå")]
        for b in n.below_minimum:
            want = f"- {b.question}: {L(lang, 'Poäng nu')} {b.points}, {L(lang, 'Krävs').lower()} {b.needed}"
            assert any(norm(line).startswith(want) for line in blockers.splitlines()), want
    else:
        assert lines[L(lang, "Poäng som krävs")] == "180" and lines[L(lang, "Era poäng nu")] == str(r.points)
    areas = s[heading(lang, "Arbetsområden")]
    for a in rep.model.areas:
        want = f"- {norm(a.name.get(lang))}: {L(lang, 'Nivå').lower()} {r.areas[a.id]} ({L(lang, '%(p)s av %(m)s poäng', p=r.area_points[a.id], m=f.area(a.id).points_max)})"  # fmt: skip
        assert want in {norm(line) for line in areas.splitlines()}, want
    c = f.certainty
    if c.percent is not None:
        assert L(lang, "Av era %(a)s svar på frågorna upp till och med nivå %(s)s är %(u)s osäkra bedömningar (%(pct)s).", a=c.answered, s=c.scope, u=c.uncertain, pct=pct(c.percent, lang)) in norm(s[heading(lang, "Säkra och osäkra bedömningar")])  # fmt: skip
    m = f.msbfs
    msbfs = s[heading(lang, "Indikation mot MSBFS 2020:6")]
    assert L(lang, "Av %(t)s krav: uppfyllt enligt svaren %(met)s, ej uppfyllt %(nm)s, okänt %(unk)s (obesvarade frågor).", t=m.total, met=m.met, nm=m.not_met, unk=m.unknown) in norm(msbfs)  # fmt: skip
    assert msbfs.count("[✓ ") == m.met and msbfs.count("[✗ ") == m.not_met and msbfs.count("[? ") == m.unknown
    if r.forward_looking is not None:
        assert L(lang, "Prognos: nivå %(n)s vid nästa uppföljning om arbetet är på plats.", n=r.forward_looking.projected_level) in norm(s[heading(lang, "Framåtblick")])  # fmt: skip
    else:
        assert heading(lang, "Framåtblick") not in s
    figures = s[heading(lang, "Nyckeltal")]
    for vq in rep.model.validation_questions:
        want = f"- {vq.id}: {key_figure_value(rep.model, vq.id, r.validation.get(vq.id), lang)}"
        assert want in {norm(line) for line in figures.splitlines()}, want
    report_section = s[heading(lang, "Så rapporterar ni till %(a)s", a=settings().authority_name)]
    assert L(lang, "Svara på det här mejlet och skriv orden skicka in på en egen rad.") in norm(
        report_section
    )
    assert L(lang, "Era kommentarer delas inte; de stannar hos er.") in norm(report_section)


@pytest.mark.parametrize(("level", "lang"), list(cases()))
def test_every_figure_in_the_pdf(level: int, lang: str) -> None:
    rep = report(level, lang)
    r, f, pdf = rep.result, rep.facts, rep.pdf_text

    def row(*cells: object) -> None:
        pattern = r"(?m)^" + r"\s+".join(re.escape(str(c)) for c in cells) + r"(\s|$)"
        assert re.search(pattern, pdf), cells

    flat = norm(pdf)
    assert L(lang, "Nivån räknas på alla era svar, inte som ett medelvärde av arbetsområdena. Ni har %(p)s av %(max)s möjliga poäng och har besvarat %(a)s av %(q)s nivågrundande frågor, varav %(c)s är säkra bedömningar.", p=r.points, max=200, a=r.answered, q=40, c=r.certain) in flat  # fmt: skip
    name = L(lang, "Under nivå 1") if r.level == 0 else norm(rep.model.level(r.level).name.get(lang))
    assert name in flat
    assert re.search(rf"(?m)^{r.level}(\s|$)", pdf)  # the big number in the level box
    n = r.next_level
    if n is not None:
        row(L(lang, "Poäng som krävs"), n.points_required)
        row(L(lang, "Era poäng nu"), r.points)
        row(L(lang, "Poäng som saknas"), n.points_missing)
        row(L(lang, "Säkra bedömningar som krävs"), n.certain_required)
        row(L(lang, "Säkra bedömningar som saknas"), n.certain_missing)
        row(L(lang, "Minsta poängökning som räcker"), n.cheapest_points)
        for b in n.below_minimum:  # grouped by area in the handout: "1.13: 2 av 3"
            assert f"{b.question}: {L(lang, '%(p)s av %(m)s', p=b.points, m=b.needed)}" in flat, b
    else:
        row(L(lang, "Poäng som krävs"), 180)
        row(L(lang, "Era poäng nu"), r.points)
    for a in rep.model.areas:
        an = r.area_next[a.id]
        row(norm(a.name.get(lang)), r.areas[a.id], L(lang, "%(p)s av %(m)s", p=r.area_points[a.id], m=f.area(a.id).points_max),
            an.points_missing if an is not None else "–")  # fmt: skip
    c = f.certainty
    if c.percent is not None:
        assert pct(c.percent, lang) in flat
        assert L(lang, "Av era %(a)s svar på frågorna upp till och med nivå %(s)s är %(u)s osäkra bedömningar (%(pct)s).", a=c.answered, s=c.scope, u=c.uncertain, pct=pct(c.percent, lang)) in flat  # fmt: skip
    m = f.msbfs
    assert L(lang, "Av %(t)s krav: uppfyllt enligt svaren %(met)s, ej uppfyllt %(nm)s, okänt %(unk)s (obesvarade frågor).", t=m.total, met=m.met, nm=m.not_met, unk=m.unknown) in flat  # fmt: skip
    assert L(lang, "Detta är en indikation, inte en rättslig bedömning.") in flat
    assert flat.count("✓ " + L(lang, "Uppfyllt")) == m.met
    assert flat.count("✗ " + L(lang, "Ej uppfyllt")) == m.not_met
    if r.forward_looking is not None:
        assert L(lang, "Prognos: nivå %(n)s vid nästa uppföljning om arbetet är på plats.", n=r.forward_looking.projected_level) in flat  # fmt: skip
    for vq in rep.model.validation_questions:
        value = key_figure_value(rep.model, vq.id, r.validation.get(vq.id), lang)
        assert re.search(rf"(?m)^{re.escape(vq.id)} .*\s{re.escape(value)}$", pdf), (vq.id, value)
    assert re.search(r"(?m)^1 ?/ ?\d+$", pdf)  # page numbers
    # the handout for ledningens genomgång: two A4 pages, the areas chart's mark labelled
    assert re.findall(r"(?m)^(\d+) ?/ ?(\d+)$", pdf) == [("1", "2"), ("2", "2")]
    assert L(lang, "Er nivå: %(n)s", n=r.level) in flat


# --------------------------------------------------------------------------- user text


def test_comments_and_names_are_shown_as_text(model: Model) -> None:
    evil = "<script>alert(1)</script> [klick](javascript:alert(1)) **fet**\nandra raden"
    answers = {"1.4": AnswerRecord(options=("a",), certain=True, comment=evil), "V2": AnswerRecord(value="4")}
    rep = build(2, "sv", answers=answers, org='Kommun <img src=x onerror="alert(2)">')
    save_artifacts("comments-sv", rep)
    html = rep.html
    assert_no_active_content(html)
    assert "<strong>fet" not in html and "<em>" not in html and "klick</a>" not in html
    comments = section_text(html, "kommentarer")
    assert norm(evil) in comments  # shown, as text
    assert "&lt;script&gt;" in html.replace("&#47;", "/")
    assert evil.split("\n")[0] in rep.text and "    andra raden" in rep.text  # verbatim in the text part
    assert 'Kommun <img src=x onerror="alert(2)">' in rep.text
    assert "Kommun &lt;img" in html
    assert rep.message["Subject"].startswith("Återkoppling Infosäkkollen 2027: Kommun <img")
    assert (
        attachment_name('Kommun <img src=x onerror="alert(2)">', CYCLE)
        == "infosakkollen-kommun-img-src-x-onerror-alert-2-2027.pdf"
    )
    # the comments stay out of the PDF handout
    assert "alert(1)" not in rep.pdf_text


def test_submission_section_says_what_is_shared(model: Model) -> None:
    rep = report(2, "sv")
    s = section_text(rep.html, "rapportera")
    authority = settings().authority_name
    assert L("sv", "Resultatet är ännu inte inrapporterat. Inget skickas till %(a)s förrän samordnaren gör det här steget.", a=authority) in s  # fmt: skip
    assert "skicka in" in s and L("sv", "Era kommentarer delas inte; de stannar hos er.") in s
    assert L("sv", "Så rapporterar ni till %(a)s", a=authority) not in norm(
        rep.pdf_text
    )  # not in the handout


def test_web_page_uses_svg_and_a_submit_button(model: Model) -> None:
    facts = feedback_facts(model, result(1))
    web = render_feedback(
        model, facts, organisation_name=ORG, cycle_name=CYCLE, lang="en", settings=settings(), for_mail=False,
        submit_url="https://infosakkollen.example.se/r/abc/skicka-in",
    )  # fmt: skip
    assert "cid:" not in web.html and web.images == {}
    assert set(web.svg) == {"areas", "points"} and all(s.startswith("<svg") for s in web.svg.values())
    assert web.html.count('src="data:image/svg+xml;base64,') == 2
    assert "<main" in web.html and "<section" in web.html and "<script" not in web.html
    assert 'action="https://infosakkollen.example.se/r/abc/skicka-in"' in web.html
    check_alt = web.alt["areas"]
    for a in model.areas:
        assert f"{a.name.en}: {result(1).areas[a.id]}" in check_alt
    assert str(result(1).points) in web.alt["points"]


# --------------------------------------------------------------------------- comparison


def test_comparison_with_an_earlier_cycle(model: Model) -> None:
    before, now = result(1), result(2)
    rep = build(2, "sv", comparison=compare(model, now, model, before))
    save_artifacts("comparison-sv", rep)
    t = tables(rep.html)
    rows = {row[0]: row[1:] for row in t.tables["change-table"][1:]}
    assert rows[L("sv", "Nivå")] == ["1", "2", "+1"]
    assert rows[L("sv", "Poäng")] == [str(before.points), str(now.points), f"+{now.points - before.points}"]
    for a in model.areas:
        b, n = before.areas[a.id], now.areas[a.id]
        delta = "±0" if b == n else (f"+{n - b}" if n > b else f"\u2212{b - n}")
        assert rows[norm(a.name.sv)] == [str(b), str(n), delta]
    kf = {row[0].split()[0]: row[1:] for row in t.tables["change-keyfigures-table"][1:]}
    assert kf["V2"] == ["12 st", "41 st", "+29"]
    assert kf["V1"][0] == "–" and kf["V1"][1] == "30 %"
    assert kf["V6"] == ["Längre än en vecka", "Inom en vecka", L("sv", "ändrat")]
    text = text_sections(rep.text)[heading("sv", "Förändring sedan förra omgången")]
    assert f"- {L('sv', 'Nivå')}: 1 → 2 (+1)" in text
    assert f"- {L('sv', 'Poäng')}: {before.points} → {now.points} (+{now.points - before.points})" in text


def test_comparison_across_model_versions_says_so(model: Model) -> None:
    newer = dataclasses.replace(model, version="2", _question_index={}, _validation_index={})
    cmp = compare(newer, result(2), model, result(1))
    assert not cmp.same_model
    facts = feedback_facts(model, result(2), comparison=cmp)
    html, _ = render_html(
        model, facts, organisation_name=ORG, cycle_name=CYCLE, lang="en", settings=settings(), variant="web",
        charts=render_feedback(model, facts, organisation_name=ORG, cycle_name=CYCLE, lang="en",
                               settings=settings(), for_mail=True).charts,
    )  # fmt: skip
    s = section_text(html, "forandring")
    assert facts.comparison is not None
    assert L("en", "Modellen har ändrats sedan förra omgången, så nivåerna jämförs inte. %(c)s av %(t)s frågor är oförändrade och jämförs: %(up)s fick fler poäng, %(down)s färre.", c=40, t=40, up=facts.comparison.questions_up, down=facts.comparison.questions_down) in s  # fmt: skip
    assert "change-table" not in html


def test_reply_to_routes_skicka_in_back_to_the_response(model: Model) -> None:
    facts = feedback_facts(model, result(2))
    response = Response(
        id=7, organisation_id=1, cycle_id=1, model_id="msb-2021", model_version="1", thread_id="<t@x>"
    )
    msg = feedback_message(
        settings(), model, facts, to="a@example.se", organisation_name=ORG, cycle_name=CYCLE, lang="sv",
        response=response,
    )  # fmt: skip
    assert "svar+" in msg["Reply-To"] and msg["In-Reply-To"] == "<t@x>"


def test_plural_forms_in_english() -> None:
    assert ngettext("en", "%(num)s fråga", "%(num)s frågor", 1) == "1 question"
    assert ngettext("en", "%(num)s fråga", "%(num)s frågor", 3) == "3 questions"
    assert ngettext("sv", "%(num)s fråga", "%(num)s frågor", 1) == "1 fråga"
