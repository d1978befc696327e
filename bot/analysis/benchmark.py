"""Benchmarking: each submitting organisation's supplementary feedback, and what submitting shares.

After the deadline every organisation that submitted gets a mail (to its coordinators and
managers) that places its level and its areas' levels among comparable organisations:
the groups of :mod:`bot.analysis.privacy` (type, size class, county; merged upward below
``ASSESSBOT_BENCHMARK_MIN_GROUP``). A group is described only by shares per level, the
shares below, at and above the organisation's own level, and the mean points, so the mail
holds the organisation's own figures and group aggregates, and nothing of any other
organisation. Text and HTML (``bot.mail.render.set_bodies``) with a PNG chart embedded by
Content-ID; Swedish or English by the contact's language.

:func:`queue_benchmarks` queues the mails under idempotency keys
(``benchmark:<cycle>:<response>:<address>``): running it again queues nothing twice.

:func:`shared_data` is exactly what submitting a response shares with the coordinating
authority (the organisation's identity and grouping, the level, area levels, points, each
answer with its certainty, and the key figures; never comments, who answered, the history
or attachments); :func:`render_shared` shows it, for the web page and the submission mail.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import numpy as np
import sqlalchemy as sa
from markupsafe import Markup
from numpy.typing import NDArray
from PIL import Image
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.charts import BenchmarkChart, alt_text, benchmark_png
from bot.analysis.export import level_headings
from bot.analysis.load import ORGS, CycleInfo, Organisations, ScoredCycle, cycles, organisations, scored_cycle
from bot.analysis.national import NoSuchCycle
from bot.analysis.privacy import ALL, GroupKey, comparison_groups, group_sizes
from bot.db.database import Database
from bot.db.tables import Contact, Cycle, Organisation, OutboxMessage, Response
from bot.i18n import environment, gettext, language
from bot.mail.compose import message_id, new_message
from bot.mail.outbox import enqueue
from bot.mail.render import render_markdown_template, set_bodies
from bot.settings import Settings
from conversations.questionnaire import Model
from conversations.state import ConversationState

SERVICE = "Infosäkkollen"
_CID_DOMAIN = "infosakkollen.benchmark"
TYPE_PLURAL = {"kommun": "kommuner", "region": "regioner", "myndighet": "statliga myndigheter"}


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class Position:
    lower: float  # share of the group at a lower level than the organisation
    same: float
    higher: float


@dataclass(frozen=True, slots=True)
class GroupFigures:
    key: GroupKey
    n: int  # organisations in the group, the recipient included
    level_shares: tuple[float, ...]
    position: Position
    mean_points: float
    area_shares: tuple[tuple[float, ...], ...] | None  # per area (the first, most comparable group only)
    area_positions: tuple[Position, ...] | None


@dataclass(frozen=True, slots=True)
class BenchmarkFacts:
    cycle: str
    organisation: str  # the recipient's own name
    type: str
    size: str | None
    county: str | None
    level: int
    points: int
    area_ids: tuple[str, ...]
    area_levels: tuple[int, ...]
    groups: tuple[GroupFigures, ...]  # finest first; empty: too few submitted to compare
    top: int
    min_group: int


@dataclass(frozen=True, slots=True)
class _Aggregates:
    """Per group: level counts, points sum, area level counts."""

    levels: dict[GroupKey, NDArray[np.int64]]
    points: dict[GroupKey, int]
    areas: dict[GroupKey, NDArray[np.int64]]  # (areas, levels)


def _position(shares: Sequence[float], level: int) -> Position:
    return Position(float(sum(shares[:level])), float(shares[level]), float(sum(shares[level + 1 :])))


class Benchmarks:
    """Everything needed to write any submitting organisation's benchmark for one scored cycle."""

    def __init__(self, cur: ScoredCycle, orgs: Organisations, min_group: int) -> None:
        if cur.scores is None or cur.model is None:
            raise ValueError(f"the model of cycle {cur.cycle.name} is not available")
        self.cur = cur
        self.model = cur.model
        self.min_group = min_group
        self.top = cur.model.top_level
        rows = orgs.rows(cur.org_ids)
        self.attrs = [(orgs.type[r], orgs.size_class[r], orgs.county[r]) for r in rows.tolist()]
        self.row_of = {int(o): i for i, o in enumerate(cur.org_ids.tolist())}
        self.sizes = group_sizes(self.attrs)
        self.agg = self._aggregate()

    def _aggregate(self) -> _Aggregates:
        sc = self.cur.scores
        assert sc is not None
        width = self.top + 1
        levels: dict[GroupKey, NDArray[np.int64]] = {}
        points: dict[GroupKey, int] = {}
        areas: dict[GroupKey, NDArray[np.int64]] = {}
        for depth in range(4):
            keys: dict[GroupKey, int] = {}
            codes = np.empty(len(self.attrs), dtype=np.int64)
            for i, (t, s, c) in enumerate(self.attrs):
                key = (GroupKey(t, s, c), GroupKey(t, s), GroupKey(t), ALL)[depth]
                if (depth == 0 and not (s and c)) or (depth == 1 and not s):
                    codes[i] = -1
                    continue
                codes[i] = keys.setdefault(key, len(keys))
            ok = codes >= 0
            g = len(keys)
            lv = np.bincount(codes[ok] * width + sc.level[ok], minlength=g * width).reshape(g, width)
            pts = np.bincount(codes[ok], weights=sc.total[ok], minlength=g)
            ar = np.zeros((g, sc.areas.shape[1], width), dtype=np.int64)
            for a in range(sc.areas.shape[1]):
                ar[:, a, :] = np.bincount(codes[ok] * width + sc.areas[ok, a], minlength=g * width).reshape(
                    g, width
                )
            for key, k in keys.items():
                levels[key] = lv[k]
                points[key] = int(pts[k])
                areas[key] = ar[k]
        return _Aggregates(levels, points, areas)

    def facts(self, organisation_id: int, organisation_name: str) -> BenchmarkFacts:
        """The benchmark of one submitting organisation.

        Raises:
            KeyError: the organisation did not submit in this cycle.
        """
        i = self.row_of[organisation_id]
        sc = self.cur.scores
        assert sc is not None
        t, s, c = self.attrs[i]
        level = int(sc.level[i])
        area_levels = tuple(int(x) for x in sc.areas[i])
        groups = []
        for j, key in enumerate(comparison_groups(t, s, c, self.sizes, self.min_group)):
            n = self.sizes[key]
            shares = tuple(float(x) / n for x in self.agg.levels[key])
            area_shares = area_positions = None
            if j == 0:
                area_shares = tuple(tuple(float(x) / n for x in row) for row in self.agg.areas[key])
                area_positions = tuple(
                    _position(row, lv) for row, lv in zip(area_shares, area_levels, strict=True)
                )
            groups.append(
                GroupFigures(
                    key,
                    n,
                    shares,
                    _position(shares, level),
                    self.agg.points[key] / n,
                    area_shares,
                    area_positions,
                )
            )
        return BenchmarkFacts(
            cycle=self.cur.cycle.name,
            organisation=organisation_name,
            type=t,
            size=s,
            county=c,
            level=level,
            points=int(sc.total[i]),
            area_ids=sc.area_ids,
            area_levels=area_levels,
            groups=tuple(groups),
            top=self.top,
            min_group=self.min_group,
        )


# --------------------------------------------------------------------------- rendering


def group_label(key: GroupKey, lang: str) -> str:
    """ "kommuner, 15 000–49 999 invånare, Skåne län" — built only from the group's own attributes."""
    if key == ALL:
        return gettext(lang, "alla organisationer som skickade in")
    parts = [gettext(lang, TYPE_PLURAL.get(key.type or "", key.type or ""))]
    parts += [p for p in (key.size, key.county) if p]
    return ", ".join(parts)


def pct(value: float, lang: str) -> str:
    n = round(100 * value)
    return f"{n}%" if lang == "en" else f"{n}\u00a0%"


def _level_name(n: int, lang: str) -> str:
    return gettext(lang, "under nivå 1") if n == 0 else gettext(lang, "nivå %(n)s", n=n)


def chart_data(model: Model, facts: BenchmarkFacts, lang: str) -> BenchmarkChart | None:
    if not facts.groups:
        return None
    g0 = facts.groups[0]
    area_shares = g0.area_shares
    if area_shares is None:
        return None
    names = [gettext(lang, "Samlad nivå")] + [
        (a.name.get(lang) if (a := model.area(aid)) is not None else aid) for aid in facts.area_ids
    ]
    return BenchmarkChart(
        rows=tuple(names),
        shares=(g0.level_shares, *area_shares),
        own=(facts.level, *facts.area_levels),
        legend=level_headings(facts.top, lang),
        own_label=gettext(lang, "Ni: %(n)s").replace("%(n)s", "%(n)d"),
        title=gettext(lang, "Er nivå bland %(g)s", g=group_label(g0.key, lang)),
    )


def subject(facts: BenchmarkFacts, lang: str) -> str:
    text = gettext(
        lang,
        "%(service)s %(cycle)s: jämförelse med liknande organisationer – %(org)s",
        service=SERVICE,
        cycle=facts.cycle,
        org=facts.organisation,
    )
    return " ".join(text.split())


@cache
def _text_env() -> jinja2.Environment:
    return environment(jinja2.PackageLoader("mail_templates", "analysis"), html=False)


def _context(model: Model, facts: BenchmarkFacts, lang: str, settings: Settings) -> dict[str, Any]:
    areas = []
    g0 = facts.groups[0] if facts.groups else None
    for k, aid in enumerate(facts.area_ids):
        area = model.area(aid)
        pos = g0.area_positions[k] if g0 is not None and g0.area_positions is not None else None
        areas.append(
            {
                "name": area.name.get(lang) if area is not None else aid,
                "level": facts.area_levels[k],
                "lower": pct(pos.lower, lang) if pos else "–",
                "same": pct(pos.same, lang) if pos else "–",
                "higher": pct(pos.higher, lang) if pos else "–",
            }
        )
    groups = [
        {
            "label": group_label(g.key, lang),
            "n": g.n,
            "levels": ", ".join(
                f"{pct(s, lang)} {_level_name(n, lang)}" for n, s in enumerate(g.level_shares)
            ),
            "lower": pct(g.position.lower, lang),
            "same": pct(g.position.same, lang),
            "higher": pct(g.position.higher, lang),
            "mean_points": round(g.mean_points),
        }
        for g in facts.groups
    ]
    return {
        "lang": lang,
        "f": facts,
        "level_name": _level_name(facts.level, lang),
        "groups": groups,
        "areas": areas,
        "primary": groups[0]["label"] if groups else "",
        "authority": settings.authority_name,
        "service": SERVICE,
        "k": facts.min_group,
    }


@dataclass(frozen=True, slots=True)
class RenderedBenchmark:
    subject: str
    text: str
    markdown: str
    png: bytes | None
    cid: str | None
    alt: str


def render_benchmark(model: Model, facts: BenchmarkFacts, lang: str, settings: Settings) -> RenderedBenchmark:
    """The mail's subject, text, Markdown (for the HTML part) and chart."""
    lang = lang if lang in model.languages else model.default_language
    ctx = _context(model, facts, lang, settings)
    chart = chart_data(model, facts, lang)
    png = benchmark_png(chart) if chart is not None else None
    cid = f"jamforelse-{hashlib.sha256(png).hexdigest()[:16]}@{_CID_DOMAIN}" if png is not None else None
    alt = alt_text(chart, level_headings(facts.top, lang)) if chart is not None else ""
    width = height = 0
    if png is not None:  # shown at half its pixels (a 2× image), at most 460 CSS px wide
        w, h = Image.open(io.BytesIO(png)).size
        width, height = w // 2, h // 2
    ctx.update(cid=cid, alt=alt, width=width, height=height)
    text = _text_env().get_template("benchmark.txt.j2").render(ctx)
    md = render_markdown_template("analysis/benchmark.md.j2", **ctx)
    return RenderedBenchmark(subject(facts, lang), text, md, png, cid, alt)


def benchmark_message(
    settings: Settings, rendered: RenderedBenchmark, *, to: str, lang: str, response: Response | None = None
) -> EmailMessage:
    """The mail: multipart/alternative (text, HTML), the HTML with its chart as a related part."""
    msg = new_message(settings, to=to, subject=rendered.subject, lang=lang, response=response)
    set_bodies(
        msg,
        rendered.text,
        rendered.markdown,
        lang=lang,
        title=rendered.subject,
        preheader=gettext(lang, "Så står sig ert resultat bland organisationer som liknar er."),
    )
    if "Content-Language" not in msg:  # set_content() drops the Content-* headers new_message set
        msg["Content-Language"] = lang
    if rendered.png is not None and rendered.cid is not None:
        html = msg.get_body(preferencelist=("html",))
        assert html is not None
        html.add_related(
            rendered.png,
            maintype="image",
            subtype="png",
            cid=f"<{rendered.cid}>",
            disposition="inline",
            filename="jamforelse.png",
        )
    return msg


# --------------------------------------------------------------------------- queuing


@dataclass(frozen=True, slots=True)
class Outcome:
    cycle: str
    organisations: int  # submitted responses
    recipients: int
    queued: int  # added now (or, in a dry run, that would be)
    already: int  # keys already in the outbox
    without_recipients: int


class TooEarly(RuntimeError):
    """The cycle is still open: benchmarking waits for the deadline (or ``force``)."""


def _key(cycle_id: int, response_id: int, email: str) -> str:
    return f"benchmark:{cycle_id}:{response_id}:{email}"


async def _find_cycle(session: AsyncSession, name: str | None) -> CycleInfo:
    all_cycles = await cycles(session)
    if not all_cycles:
        raise NoSuchCycle("det finns ingen omgång")
    if name is None:
        return all_cycles[-1]
    for c in all_cycles:
        if c.name == name:
            return c
    raise NoSuchCycle(f"ingen omgång heter {name!r}")


async def queue_benchmarks(
    db: Database,
    settings: Settings,
    models: Sequence[Model],
    cycle_name: str | None,
    *,
    dry_run: bool = False,
    force: bool = False,
    today: date | None = None,
    batch: int = 200,
) -> Outcome:
    """Queue the benchmarking mail of every organisation that submitted in the cycle.

    Raises:
        NoSuchCycle: no such cycle.
        TooEarly: the cycle is not closed and its deadline has not passed (unless ``force``).
        ValueError: the cycle's model is not among ``models``.
    """
    contacts_t = Contact.__table__  # type: ignore[attr-defined]
    outbox_t = OutboxMessage.__table__  # type: ignore[attr-defined]
    async with db.transaction(readonly=True) as session:
        cycle = await _find_cycle(session, cycle_name)
        today = today or datetime.now(ZoneInfo(settings.timezone)).date()
        if not force and cycle.status != "closed" and today <= cycle.deadline:
            raise TooEarly(
                f"omgång {cycle.name} är öppen till och med {cycle.deadline.isoformat()}: jämförelserna skickas "
                "efter sista svarsdagen, när alla har kunnat skicka in (--force skickar ändå)"
            )
        orgs = await organisations(session)
        cur = await scored_cycle(session, cycle, models)
        bench = Benchmarks(cur, orgs, settings.benchmark_min_group)
        conn = await session.connection()
        names = dict((await conn.execute(sa.select(ORGS.c.id, ORGS.c.name))).all())
        people = (
            await conn.execute(
                sa.select(contacts_t.c.organisation_id, contacts_t.c.email, contacts_t.c.language)
                .where(
                    contacts_t.c.active.is_(True),
                    sa.or_(contacts_t.c.coordinator.is_(True), contacts_t.c.manager.is_(True)),
                )
                .order_by(contacts_t.c.organisation_id, contacts_t.c.id)
            )
        ).all()
        done = set(
            (
                await conn.execute(
                    sa.select(outbox_t.c.key).where(outbox_t.c.key.like(f"benchmark:{cycle.id}:%"))
                )
            )
            .scalars()
            .all()
        )
    recipients: dict[int, list[tuple[str, str]]] = {}
    for org_id, email, lang in people:
        recipients.setdefault(int(org_id), []).append((email, language(lang)))
    model = cur.model
    assert model is not None
    queued = already = count_recipients = without = 0
    pending: list[tuple[int, int, list[tuple[str, str]]]] = []
    for org_id, response_id in zip(cur.org_ids.tolist(), cur.response_ids.tolist(), strict=True):
        people_of = recipients.get(org_id, [])
        if not people_of:
            without += 1
        count_recipients += len(people_of)
        todo = [(e, lang) for e, lang in people_of if _key(cycle.id, response_id, e) not in done]
        already += len(people_of) - len(todo)
        if todo:
            pending.append((org_id, response_id, todo))
    if dry_run:
        return Outcome(cycle.name, cur.n, count_recipients, sum(len(p[2]) for p in pending), already, without)
    threads = await _thread_ids(db, cycle.id)
    for start in range(0, len(pending), batch):
        # render outside any transaction: a writing transaction (on SQLite the only one) stays short
        messages: list[tuple[int, str, EmailMessage]] = []
        for org_id, response_id, todo in pending[start : start + batch]:
            facts = bench.facts(org_id, names.get(org_id, ""))
            # only its id and thread are read, to thread the mail with the response's others
            response = Response(
                id=response_id,
                thread_id=threads.get(response_id),
                organisation_id=org_id,
                cycle_id=cycle.id,
                model_id=model.id,
                model_version=model.version,
            )
            by_lang: dict[str, list[str]] = {}
            for email, lang in todo:
                by_lang.setdefault(lang if lang in model.languages else model.default_language, []).append(
                    email
                )
            for lang, emails in by_lang.items():
                rendered = render_benchmark(model, facts, lang, settings)
                template = benchmark_message(settings, rendered, to=emails[0], lang=lang, response=response)
                for email in emails:
                    msg = copy.deepcopy(template)
                    msg.replace_header("To", email)
                    msg.replace_header("Message-ID", message_id(settings))
                    messages.append((response_id, email, msg))
        async with db.transaction() as session:
            for response_id, email, msg in messages:
                queued += await enqueue(
                    session,
                    msg,
                    key=_key(cycle.id, response_id, email),
                    kind="benchmark",
                    response_id=response_id,
                )
    return Outcome(cycle.name, cur.n, count_recipients, queued, already, without)


async def _thread_ids(db: Database, cycle_id: int) -> dict[int, str | None]:
    """The Message-ID that starts each response's thread, for the cycle's responses."""
    responses_t = Response.__table__  # type: ignore[attr-defined]
    async with db.transaction(readonly=True) as session:
        conn = await session.connection()
        query = sa.select(responses_t.c.id, responses_t.c.thread_id).where(responses_t.c.cycle_id == cycle_id)
        return {int(r[0]): r[1] for r in (await conn.execute(query)).all()}


# --------------------------------------------------------------------------- what is shared


def shared_data_from(
    model: Model, organisation: Organisation, cycle: Cycle | CycleInfo, state: ConversationState
) -> dict[str, Any]:
    """Exactly what submitting shares (see the module docstring), from a response's state."""
    from conversations.engine import score_state

    result = score_state(model, state)
    answers = {}
    for qid, rec in state.answers.items():
        q = model.question(qid)
        if q is None or rec.skipped or rec.value is not None:
            continue
        answers[qid] = {
            "options": list(rec.options),
            "certain": bool(rec.certain),
            "points": result.questions[qid].points,
        }
    ordered = {q.id: answers[q.id] for q in model.questions if q.id in answers}
    validation = {
        v.id: state.answers[v.id].value
        for v in model.validation_questions
        if v.id in state.answers and not state.answers[v.id].skipped and state.answers[v.id].value is not None
    }
    return {
        "organisation": {
            "name": organisation.name,
            "orgnr": organisation.orgnr,
            "type": organisation.type,
            "county": organisation.county,
            "size_class": organisation.size_class,
        },
        "cycle": cycle.name,
        "model": {"id": model.id, "version": model.version},
        "level": result.level,
        "points": result.points,
        "certain": result.certain,
        "answered": result.answered,
        "areas": dict(result.areas),
        "answers": ordered,
        "validation": validation,
        "not_shared": ["comments", "who_answered", "history", "attachments"],
    }


async def shared_data(session: AsyncSession, model: Model, response: Response) -> dict[str, Any]:
    """What submitting ``response`` shares with the coordinating authority (or has shared)."""
    from bot.turn import load_state

    organisation = await session.get(Organisation, response.organisation_id)
    cycle = await session.get(Cycle, response.cycle_id)
    assert organisation is not None and cycle is not None
    return shared_data_from(model, organisation, cycle, await load_state(session, response))


@cache
def _html_env() -> jinja2.Environment:
    return environment(jinja2.PackageLoader("mail_templates", "analysis"), html=True)


def render_shared(data: Mapping[str, Any], model: Model, lang: str, *, authority: str) -> tuple[str, Markup]:
    """The shared data as plain text and as an HTML fragment (a heading, lists and a table)."""
    lang = lang if lang in model.languages else model.default_language
    rows = []
    for qid, a in data["answers"].items():
        q = model.question(qid)
        rows.append(
            {
                "id": qid,
                "text": q.text.get(lang) if q is not None else qid,
                "options": " ".join(a["options"]),
                "certain": a["certain"],
                "points": a["points"],
            }
        )
    figures = []
    for vid, value in data["validation"].items():
        v = model.validation_question(vid)
        figures.append({"id": vid, "text": v.text.get(lang) if v is not None else vid, "value": value})
    areas = [
        {"name": (a.name.get(lang) if (a := model.area(aid)) is not None else aid), "level": lv}
        for aid, lv in data["areas"].items()
    ]
    ctx = {
        "lang": lang,
        "d": data,
        "answers": rows,
        "figures": figures,
        "areas": areas,
        "authority": authority,
        "type_plural": gettext(
            lang, TYPE_PLURAL.get(data["organisation"]["type"], data["organisation"]["type"])
        ),
    }
    text = _text_env().get_template("shared.txt.j2").render(ctx)
    html = Markup(_html_env().get_template("shared.html.j2").render(ctx))
    return text, html
