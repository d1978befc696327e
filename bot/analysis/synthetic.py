"""Synthetic organisations and submitted responses: realistic, reproducible, fast.

:func:`generate` makes, from a seed, ``N`` organisations (kommuner, the regioner of the 21
län, myndigheter; with county, size class, a valid organisation number and fictional
contacts at ``*.demo.example``) and ``K`` cycles two years apart (2021, 2023, …), each with
the organisations' responses. :func:`store` writes them to the database in bulk.

How answers arise. Every organisation has a latent maturity ``m`` (roughly "the level its
work would earn"), drawn per organisation type and size class; between cycles about half of
the organisations improve markedly and the rest drift. A question on level ``l`` earns
``round(m + 0.9 − 0.3·(l − 1) + d_q + e)`` points (clipped to 0–5), with a fixed
difficulty ``d_q`` per question and noise ``e`` per answer; the points are then written as
option letters that earn exactly them (a subset of aspects, a scale option or an adjacent
range whose cautious end it is, "Nej" or an option under development for 0). Certainty is
likelier at higher maturity and for better answers, and key figures rise with maturity.
With the default parameters about 82 % of the first cycle's submitting organisations are
below level 1 and about 69 % of the second's (as in the real rounds of 2021 and 2023), and
the share keeps falling a little after that.

Each cycle, most organisations submit; some complete without submitting, some stop half
way, some are only invited and some take no part. Nothing here touches the database
except :func:`store`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from typing import Any, cast

import numpy as np
import orjson
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import (
    Answer,
    AnswerRevision,
    AuditEntry,
    Contact,
    Cycle,
    Organisation,
    Response,
    table_of,
)
from bot.organisations import luhn_ok
from conversations.questionnaire import Model
from scoring.batch import BatchScorer, batch_scorer_for

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DEMO_ACTION = "demo_data.generate"
MAIL_DOMAIN = "demo.example"  # reserved (RFC 2606): never a real mailbox

# The 21 län: name, the region's name, and the number of kommuner in it (290 in all).
COUNTIES: tuple[tuple[str, str, int], ...] = (
    ("Stockholms län", "Region Stockholm", 26),
    ("Uppsala län", "Region Uppsala", 8),
    ("Södermanlands län", "Region Sörmland", 9),
    ("Östergötlands län", "Region Östergötland", 13),
    ("Jönköpings län", "Region Jönköpings län", 13),
    ("Kronobergs län", "Region Kronoberg", 8),
    ("Kalmar län", "Region Kalmar län", 12),
    ("Gotlands län", "Region Gotland", 1),
    ("Blekinge län", "Region Blekinge", 5),
    ("Skåne län", "Region Skåne", 33),
    ("Hallands län", "Region Halland", 6),
    ("Västra Götalands län", "Västra Götalandsregionen", 49),
    ("Värmlands län", "Region Värmland", 16),
    ("Örebro län", "Region Örebro län", 12),
    ("Västmanlands län", "Region Västmanland", 10),
    ("Dalarnas län", "Region Dalarna", 15),
    ("Gävleborgs län", "Region Gävleborg", 10),
    ("Västernorrlands län", "Region Västernorrland", 7),
    ("Jämtlands län", "Region Jämtland Härjedalen", 8),
    ("Västerbottens län", "Region Västerbotten", 15),
    ("Norrbottens län", "Region Norrbotten", 14),
)

# Size classes per organisation type, smallest first, with their shares.
SIZE_CLASSES: dict[str, tuple[tuple[str, float], ...]] = {
    "kommun": (
        ("under 15 000 invånare", 0.48),
        ("15 000–49 999 invånare", 0.38),
        ("50 000–199 999 invånare", 0.12),
        ("minst 200 000 invånare", 0.02),
    ),
    "region": (
        ("under 300 000 invånare", 0.45),
        ("300 000–999 999 invånare", 0.43),
        ("minst 1 000 000 invånare", 0.12),
    ),
    "myndighet": (
        ("under 50 anställda", 0.30),
        ("50–249 anställda", 0.34),
        ("250–999 anställda", 0.22),
        ("minst 1 000 anställda", 0.14),
    ),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_STEMS = _words(
    "Al Arv Berg Björk Bol Bo Dal Ek Em Fal Fors Gran Hag Ham Hed Hol Hult Kal Kar Kin Lin Lid Ljus "
    "Lund Lys Mal Mark Mjöl Mo Mör Nor Orr Os Ram Ros Rätt Sal Sand Sig Sjö Skog Sme Sol Sten Strand "
    "Sun Tid Ting Tor Tran Tär Ulv Vad Var Ved Vik Vin Ås Ör Öst Gnos Bjur Fager Hjort Lo Ny Rör"
)
_ENDINGS = _words(
    "by köping hult ås torp fors vik åker sala stad berga holm lund näs dal ryd mo sjö bro hamn tuna "
    "vall sund inge arp ö boda skog träsk älv"
)
_PLACE_PREFIXES = ("", "Norra ", "Södra ", "Västra ", "Östra ", "Övre ", "Nedre ", "Stora ", "Lilla ")
_FIELDS = _words(
    "Skogs Vatten Trafik Kultur Energi Livsmedels Arbetsmiljö Bostads Sjöfarts Jordbruks Läkemedels "
    "Miljö Statistik Språk Arkiv Fastighets Pensions Skatte Tull Försäkrings Kust Fjäll Fiske Geologi "
    "Rymd Patent Konkurrens Post Konsument Utbildnings Forsknings Folkhälso Vård Kart Väder "
    "Strålsäkerhets Kemikalie Transport Bygg Upphandlings Tillväxt Export Musei Konst Musik Film "
    "Biblioteks Natur Havs Klimat Landsbygds Turism Idrotts Ungdoms Data Mät Sjukvårds Socialtjänst "
    "Järnvägs Luftfarts"
)
_AGENCY_SUFFIXES = ("myndigheten", "verket", "inspektionen", "nämnden", "rådet", "styrelsen", "institutet")
_AGENCY_QUALIFIERS = ("", " Nord", " Syd", " Väst", " Öst", " Mitt")
_FIRST = _words(
    "Anna Eva Maria Karin Sara Lena Emma Kerstin Ingrid Sofia Lars Mikael Anders Johan Erik Per Karl "
    "Peter Jonas Thomas Fatima Ali Amir Leila Nils Elin Oskar Hanna Linnea Gustav"
)
_LAST = _words(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
    "Pettersson Jonsson Lindberg Lindqvist Berg Holm Sandberg Ek Lund Axelsson Hassan Mohammed Nguyen "
    "Öberg Åkesson"
)

# Latent maturity: base per type, added per size class step, spread, and the change between cycles.
_BASE = {"kommun": 0.04, "region": 0.8, "myndighet": 0.19}
_SIZE_STEP = {"kommun": 0.18, "region": 0.2, "myndighet": 0.16}
_SPREAD = 0.75
_IMPROVERS = 0.5  # share of organisations that improve markedly between two cycles
_GAIN = (0.7, 0.3)  # mean, sd of an improver's gain (the first time; less later)
_DRIFT = (0.04, 0.15)
_LATER = 0.55  # each later cycle's gains, relative to the one before
_OFFSET, _PER_LEVEL, _NOISE, _DIFFICULTY = 0.9, 0.3, 0.85, 0.25
# What each organisation does in a cycle.
STATUS_SHARES = (
    ("submitted", 0.8),
    ("completed", 0.05),
    ("in_progress", 0.04),
    ("invited", 0.04),
    ("none", 0.07),
)


@dataclass(frozen=True, slots=True)
class DemoContact:
    email: str
    name: str
    coordinator: bool
    respondent: bool
    manager: bool
    language: str


@dataclass(frozen=True, slots=True)
class DemoOrganisation:
    name: str
    type: str
    orgnr: str
    county: str
    size_class: str
    domain: str
    contacts: tuple[DemoContact, ...]


@dataclass(slots=True)
class DemoCycle:
    """One cycle's responses; rows are the organisations that have a response, in ``org`` order."""

    name: str
    launch: date
    deadline: date
    org: IntArray  # index into DemoData.organisations
    status: list[str]
    maturity: FloatArray  # per row
    codes: IntArray  # (rows, questions) BatchScorer codes; unanswered where not answered
    options: NDArray[np.object_]  # (rows, questions) option letters, space-separated; None unanswered
    certain: BoolArray  # (rows, questions)
    validation: list[dict[str, str]]  # per row: key figures given
    started: list[datetime | None]
    completed: list[datetime | None]
    submitted: list[datetime | None]


@dataclass(slots=True)
class DemoData:
    seed: int
    model: Model
    organisations: list[DemoOrganisation]
    cycles: list[DemoCycle] = field(default_factory=list)

    def submitted(self, cycle: int) -> int:
        return sum(1 for s in self.cycles[cycle].status if s == "submitted")


# --------------------------------------------------------------------------- organisations


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch if ch.isalnum() else "-" for ch in ascii_text).strip("-").replace("--", "-")


def _orgnr(prefix: str, serial: int) -> str:
    """A 10-digit organisation number ``prefix`` + serial with a valid Luhn check digit."""
    body = f"{prefix}{serial:0{9 - len(prefix)}d}"
    for check in range(10):
        if luhn_ok(body + str(check)):
            return body + str(check)
    raise AssertionError("unreachable: one check digit always fits")


def _type_counts(n: int) -> dict[str, int]:
    regions = min(len(COUNTIES), max(1, round(n * 0.035))) if n >= 3 else 0
    kommuner = max(1, round(n * 0.45)) if n >= 2 else n
    return {"kommun": kommuner, "region": regions, "myndighet": max(0, n - kommuner - regions)}


def _names(
    rng: np.random.Generator, count: int, parts: Sequence[Sequence[str]], joiner: str = ""
) -> list[str]:
    """``count`` distinct names from the product of ``parts``, in a seeded random order."""
    sizes = [len(p) for p in parts]
    space = math.prod(sizes)
    picks: list[int] = []
    if count <= space:
        picks = [int(x) for x in rng.choice(space, size=count, replace=False)]
    else:
        picks = [int(x) for x in rng.permutation(space)] + list(range(space, count))
    out = []
    for k in picks:
        suffix = ""
        if k >= space:
            suffix = f" {k // space + 1}"
            k %= space
        chosen = []
        for size, options in zip(reversed(sizes), reversed(parts), strict=True):
            chosen.append(options[k % size])
            k //= size
        out.append(joiner.join(reversed(chosen)) + suffix)
    return out


def _contacts(rng: np.random.Generator, domain: str, kind: str) -> tuple[DemoContact, ...]:
    lang = "en" if rng.random() < 0.03 else "sv"
    people = []
    for role in ("coordinator", "manager"):
        first = _FIRST[int(rng.integers(len(_FIRST)))]
        last = _LAST[int(rng.integers(len(_LAST)))]
        local = _slug(f"{first}.{last}")
        if role == "manager":
            local = "ledning" if kind != "myndighet" else "generaldirektor"
        people.append(
            DemoContact(
                f"{local}@{domain}",
                f"{first} {last}",
                coordinator=role == "coordinator",
                respondent=role == "coordinator",
                manager=role == "manager",
                language=lang,
            )
        )
    return tuple(people)


def organisations(n: int, rng: np.random.Generator) -> list[DemoOrganisation]:
    """``n`` organisations: about 45 % kommuner, the regioner (one per län), the rest myndigheter."""
    counts = _type_counts(n)
    weights = np.array([c[2] for c in COUNTIES], dtype=float)
    weights /= weights.sum()
    serials = {t: rng.choice(90_000, size=c, replace=False) + 1_000 for t, c in counts.items()}
    out: list[DemoOrganisation] = []
    kommun_names = _names(rng, counts["kommun"], [_PLACE_PREFIXES, _STEMS, _ENDINGS])
    for i, name in enumerate(kommun_names):
        county = COUNTIES[int(rng.choice(len(COUNTIES), p=weights))][0]
        size = _size(rng, "kommun")
        full = f"{name} {'stad' if size.startswith('minst') and rng.random() < 0.5 else 'kommun'}"
        domain = f"{_slug(name)}-{i}.{MAIL_DOMAIN}"
        out.append(
            DemoOrganisation(
                full,
                "kommun",
                _orgnr("2120", int(serials["kommun"][i])),
                county,
                size,
                domain,
                _contacts(rng, domain, "kommun"),
            )
        )
    region_order = rng.permutation(len(COUNTIES))[: counts["region"]]
    for i, k in enumerate(region_order):
        county, region, _ = COUNTIES[int(k)]
        domain = f"{_slug(region)}.{MAIL_DOMAIN}"
        size = _size(rng, "region")
        out.append(
            DemoOrganisation(
                region,
                "region",
                _orgnr("2321", int(serials["region"][i])),
                county,
                size,
                domain,
                _contacts(rng, domain, "region"),
            )
        )
    agency_names = _names(rng, counts["myndighet"], [_FIELDS, _AGENCY_SUFFIXES, _AGENCY_QUALIFIERS])
    for i, name in enumerate(agency_names):
        # an agency's county is where its head office is; most are in Stockholm
        county = "Stockholms län" if rng.random() < 0.45 else COUNTIES[int(rng.integers(len(COUNTIES)))][0]
        domain = f"{_slug(name)}-{i}.{MAIL_DOMAIN}"
        out.append(
            DemoOrganisation(
                name,
                "myndighet",
                _orgnr("2021", int(serials["myndighet"][i])),
                county,
                _size(rng, "myndighet"),
                domain,
                _contacts(rng, domain, "myndighet"),
            )
        )
    order = rng.permutation(len(out))
    return [out[int(k)] for k in order]


def _size(rng: np.random.Generator, kind: str) -> str:
    classes = SIZE_CLASSES[kind]
    p = np.array([s for _, s in classes])
    return classes[int(rng.choice(len(classes), p=p / p.sum()))][0]


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class _Choices:
    """Per question (level order): option strings that earn exactly p points, for p = 0…5."""

    table: NDArray[np.object_]  # every candidate of every question, flat
    offset: IntArray  # (questions, 6)
    count: IntArray  # (questions, 6)


def _choices(model: Model, batch: BatchScorer) -> _Choices:
    s = batch.s
    rng = np.random.default_rng(2021)  # fixed: the candidates do not depend on the seed
    flat: list[str | None] = []
    offset = np.zeros((len(s.ids), 6), dtype=np.int64)
    count = np.zeros((len(s.ids), 6), dtype=np.int64)
    for i, q in enumerate(s.questions):
        plain = [o for o in q.options if not o.exclusive and o.points > 0]
        excl = [o for o in q.options if o.exclusive]
        for p in range(6):
            cands: list[str] = []
            if p == 0:
                # "Nej" (the plain exclusive option) most often; under development or recent sometimes
                for o in excl:
                    cands += [o.id] * (1 if o.flags else 3)
                if not excl:
                    cands = []
            elif q.scoring == "count":
                subsets = [c for c in combinations([o.id for o in plain], p) if sum(1 for _ in c) == p]
                if p <= len(plain):
                    picks = rng.choice(len(subsets), size=min(6, len(subsets)), replace=False)
                    cands = [" ".join(subsets[int(k)]) for k in picks]
            else:
                letters = [o.id for o in q.options]
                exact = [o for o in plain if o.points == p]
                for o in exact:
                    cands += [o.id] * 3
                    k = letters.index(o.id)
                    if k > 0 and not q.options[k - 1].exclusive:  # a range whose cautious end it is
                        cands.append(f"{letters[k - 1]} {o.id}")
            valid = []
            for c in cands:
                choice = s.choice(i, c.split())
                if choice.points == p:
                    valid.append(c)
            offset[i, p] = len(flat)
            count[i, p] = len(valid)
            flat += valid
    table = np.array(flat, dtype=object)
    return _Choices(table, offset, count)


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _answers(
    model: Model,
    batch: BatchScorer,
    choices: _Choices,
    maturity: FloatArray,
    difficulty: FloatArray,
    answer_share: FloatArray,
    rng: np.random.Generator,
) -> tuple[IntArray, NDArray[np.object_], BoolArray]:
    """Codes, option strings and certainty for rows of maturity; ``answer_share`` per row."""
    s = batch.s
    n, nq = len(maturity), len(s.ids)
    levels = np.array(s.levels, dtype=np.float64)
    mean = maturity[:, None] + _OFFSET - _PER_LEVEL * (levels[None, :] - 1) + difficulty[None, :]
    points = np.clip(np.rint(mean + rng.normal(0, _NOISE, (n, nq))), 0, s.cap).astype(np.int64)
    # a question may lack a candidate for some points (e.g. 5 aspects only): step down to one that has
    for i in range(nq):
        for p in range(5, -1, -1):
            if choices.count[i, p] == 0:
                lower = next((x for x in range(p - 1, -1, -1) if choices.count[i, x]), None)
                higher = next((x for x in range(p + 1, 6) if choices.count[i, x]), None)
                target = lower if lower is not None else higher
                assert target is not None
                points[points[:, i] == p, i] = target
    cols = np.arange(nq)[None, :]
    pick = choices.offset[cols, points] + (rng.random((n, nq)) * choices.count[cols, points]).astype(np.int64)
    options = choices.table[pick]
    p_certain = _sigmoid(
        1.7 * (maturity[:, None] - 0.15) + 0.45 * (points - 2.0) - 0.15 * (levels[None, :] - 1)
    )
    certain = rng.random((n, nq)) < p_certain
    answered = rng.random((n, nq)) < answer_share[:, None]
    options[~answered] = None
    codes = batch.unanswered_rows(n)
    # encode each distinct (question, options, certainty) once
    cache: dict[tuple[int, str, bool], int] = {}
    rows, qcols = np.nonzero(answered)
    flat_opts = options[rows, qcols]
    flat_cert = certain[rows, qcols]
    values = np.empty(len(rows), dtype=np.int64)
    ids = s.ids
    for k, (i, opt, c) in enumerate(zip(qcols.tolist(), flat_opts.tolist(), flat_cert.tolist(), strict=True)):
        key = (i, opt, c)
        code = cache.get(key)
        if code is None:
            code = cache[key] = batch.encode_answer(ids[i], opt.split(), c)[1]
        values[k] = code
    codes[rows, qcols] = values
    return codes, options, certain & answered


def _validation(
    model: Model, maturity: FloatArray, size_rank: FloatArray, rng: np.random.Generator
) -> list[dict[str, str]]:
    """Key figures that rise with maturity (and, for counts, with size)."""
    n = len(maturity)
    m = np.clip(maturity, -1.0, 4.5)
    out: list[dict[str, str]] = [{} for _ in range(n)]

    def pct(base: float, slope: float, sd: float) -> FloatArray:
        return cast(FloatArray, np.clip(np.rint(base + slope * m + rng.normal(0, sd, n)), 0, 100))

    series: dict[str, Any] = {
        "V1": pct(15, 14, 14),
        "V2": np.rint(np.exp(1.2 + 0.5 * size_rank + 0.25 * m + rng.normal(0, 0.5, n))),
        "V3": pct(25, 15, 15),
        "V4": pct(10, 17, 14),
        "V5": pct(15, 16, 15),
        "V6": np.clip(np.rint(2.6 - 0.55 * m + rng.normal(0, 0.7, n)), 0, 3),
        "V7": pct(45, 11, 13),
        "V8": np.rint(np.exp(0.2 + 0.35 * size_rank + 0.35 * m + rng.normal(0, 0.45, n))),
    }
    known = {v.id: v for v in model.validation_questions}
    for vid, values in series.items():
        vq = known.get(vid)
        if vq is None:
            continue
        given = rng.random(n) < np.clip(0.7 + 0.08 * m, 0.5, 0.97)
        for r in np.nonzero(given)[0].tolist():
            v = int(values[r])
            out[r][vid] = vq.options[min(v, len(vq.options) - 1)].id if vq.kind == "choice" else str(v)
    return out


def _maturity(orgs: Sequence[DemoOrganisation], cycles: int, rng: np.random.Generator) -> FloatArray:
    """(cycles, organisations) latent maturity."""
    n = len(orgs)
    base = np.array([_BASE[o.type] for o in orgs])
    step = np.array([_SIZE_STEP[o.type] for o in orgs])
    rank = np.array([[c for c, _ in SIZE_CLASSES[o.type]].index(o.size_class) for o in orgs], dtype=float)
    m = np.empty((cycles, n))
    m[0] = base + step * rank + rng.normal(0, _SPREAD, n)
    scale = 1.0
    for k in range(1, cycles):
        improves = rng.random(n) < _IMPROVERS
        gain = np.where(improves, rng.normal(_GAIN[0], _GAIN[1], n), rng.normal(_DRIFT[0], _DRIFT[1], n))
        m[k] = m[k - 1] + scale * gain
        scale *= _LATER
    return m


def _status(rng: np.random.Generator, maturity: FloatArray) -> list[str]:
    names = [s for s, _ in STATUS_SHARES]
    p = np.array([x for _, x in STATUS_SHARES])
    u = rng.random(len(maturity))
    # the more mature submit a little more often
    shift = np.clip(0.04 * maturity, -0.05, 0.08)
    edges = np.cumsum(p)
    picks = np.searchsorted(edges, np.clip(u - shift, 0, 0.999999), side="right")
    return [names[int(k)] for k in picks]


def _at(day: date, offset_days: float) -> datetime:
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(days=float(offset_days))


def generate(
    model: Model, organisations_count: int, cycles: int, seed: int = 1, first_year: int = 2021
) -> DemoData:
    """Organisations and ``cycles`` cycles of responses (see the module docstring)."""
    if organisations_count < 1 or cycles < 1:
        raise ValueError("at least one organisation and one cycle")
    rng = np.random.default_rng(seed)
    batch = batch_scorer_for(model)
    orgs = organisations(organisations_count, rng)
    data = DemoData(seed, model, orgs)
    choices = _choices(model, batch)
    difficulty = np.random.default_rng(1).normal(0, _DIFFICULTY, len(batch.s.ids))  # fixed: a model's
    maturity = _maturity(orgs, cycles, rng)
    size_rank = np.array(
        [[c for c, _ in SIZE_CLASSES[o.type]].index(o.size_class) for o in orgs], dtype=float
    )
    for k in range(cycles):
        year = first_year + 2 * k
        launch, deadline = date(year, 3, 1), date(year, 10, 31)
        status = _status(rng, maturity[k])
        has = np.array([s != "none" for s in status])
        org_idx = np.nonzero(has)[0].astype(np.int64)
        st = [status[int(i)] for i in org_idx]
        m = maturity[k][org_idx]
        share = np.array(
            [{"submitted": 0.995, "completed": 0.99, "in_progress": 0.45, "invited": 0.0}[s] for s in st]
        )
        codes, options, certain = _answers(model, batch, choices, m, difficulty, share, rng)
        validation = _validation(model, m, size_rank[org_idx], rng)
        started: list[datetime | None] = []
        completed: list[datetime | None] = []
        submitted: list[datetime | None] = []
        span = (deadline - launch).days
        for r, s in enumerate(st):
            if s == "invited":
                validation[r] = {}
                started.append(None)
                completed.append(None)
                submitted.append(None)
                continue
            t0 = float(rng.uniform(2, span * 0.6))
            started.append(_at(launch, t0))
            if s == "in_progress":
                validation[r] = {}
                completed.append(None)
                submitted.append(None)
                continue
            t1 = min(span - 2.0, t0 + float(rng.uniform(3, 90)))
            completed.append(_at(launch, t1))
            submitted.append(
                _at(launch, min(span - 0.5, t1 + float(rng.uniform(0, 20)))) if s == "submitted" else None
            )
        data.cycles.append(
            DemoCycle(
                f"{year}",
                launch,
                deadline,
                org_idx,
                st,
                m,
                codes,
                options,
                certain,
                validation,
                started,
                completed,
                submitted,
            )
        )
    return data


# --------------------------------------------------------------------------- storing


class AlreadyGenerated(RuntimeError):
    """The database already holds demo data or cycles of the same names."""


_ANSWER_COLUMNS = _words("response_id question options value certain comment skipped by channel at revision")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


async def _bulk_insert(
    session: AsyncSession, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany of plain SQL on SQLite.

    The rows are in the driver's form: on SQLite times are text as SQLAlchemy stores them
    (see :func:`_driver_time`), because no type processing happens here.
    """
    if not rows:
        return
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        assert pg is not None
        await pg.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    quoted = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({marks})"
    chunk = 100_000
    for start in range(0, len(rows), chunk):
        await conn.exec_driver_sql(sql, rows[start : start + chunk])


def _driver_time(dialect: str, value: datetime | None) -> Any:
    """A time as the driver takes it: text in UTC on SQLite (as :class:`UTCDateTime` stores it)."""
    if value is None or dialect != "sqlite":
        return value
    return value.astimezone(UTC).strftime(_SQLITE_TIME)


async def check_empty(session: AsyncSession, names: Sequence[str]) -> None:
    """Refuse to generate twice.

    Raises:
        AlreadyGenerated: demo data was generated before, or a cycle of one of ``names`` exists.
    """
    audit = table_of(AuditEntry)
    conn = await session.connection()
    done = (
        await conn.execute(sa.select(audit.c.details).where(audit.c.action == DEMO_ACTION).limit(1))
    ).first()
    if done is not None:
        details = done[0] or {}
        raise AlreadyGenerated(
            f"databasen innehåller redan demodata (seed {details.get('seed')}, "
            f"{details.get('organisations')} organisationer, {details.get('cycles')} omgångar); "
            "använd en tom databas"
        )
    cycles = table_of(Cycle)
    clash = (await conn.execute(sa.select(cycles.c.name).where(cycles.c.name.in_(list(names))))).all()
    if clash:
        listed = ", ".join(sorted(r[0] for r in clash))
        raise AlreadyGenerated(
            f"omgång {listed} finns redan i databasen; demodata kräver en databas utan dem"
        )


async def store(session: AsyncSession, data: DemoData) -> dict[str, int]:
    """Write ``data`` in the caller's transaction; returns counts of what was stored.

    Raises:
        AlreadyGenerated: see :func:`check_empty`.
    """
    model = data.model
    batch = batch_scorer_for(model)
    await check_empty(session, [c.name for c in data.cycles])
    conn = await session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":  # a bigger page cache for this transaction's index updates
        await conn.exec_driver_sql("PRAGMA cache_size=-262144")
    created = datetime(data.cycles[0].launch.year - 1, 11, 1, tzinfo=UTC)
    orgs_t, contacts_t, cycles_t = table_of(Organisation), table_of(Contact), table_of(Cycle)
    responses_t, answers_t, revisions_t = table_of(Response), table_of(Answer), table_of(AnswerRevision)
    await conn.execute(
        orgs_t.insert(),
        [
            {
                "name": o.name,
                "type": o.type,
                "orgnr": o.orgnr,
                "county": o.county,
                "size_class": o.size_class,
                "mail_domains": o.domain,
                "created_at": created,
            }
            for o in data.organisations
        ],
    )
    by_orgnr = {r[0]: r[1] for r in await conn.execute(sa.select(orgs_t.c.orgnr, orgs_t.c.id))}
    org_ids = np.array([by_orgnr[o.orgnr] for o in data.organisations], dtype=np.int64)
    await conn.execute(
        contacts_t.insert(),
        [
            {
                "organisation_id": int(org_ids[i]),
                "email": c.email,
                "name": c.name,
                "language": c.language,
                "coordinator": c.coordinator,
                "respondent": c.respondent,
                "manager": c.manager,
                "active": True,
                "reminders_paused": False,
                "created_at": created,
            }
            for i, o in enumerate(data.organisations)
            for c in o.contacts
        ],
    )
    sections = " ".join(s.id for s in model.sections)
    counts = dict.fromkeys(("responses", "answers", "submitted"), 0)
    counts["organisations"] = len(data.organisations)
    counts["contacts"] = sum(len(o.contacts) for o in data.organisations)
    validation_ids = [v.id for v in model.validation_questions]
    for cyc in data.cycles:
        closes = datetime.combine(cyc.deadline + timedelta(days=1), datetime.min.time(), UTC)
        cycle_id = (
            await conn.execute(
                cycles_t.insert().returning(cycles_t.c.id),
                {
                    "name": cyc.name,
                    "launch": cyc.launch,
                    "deadline": cyc.deadline,
                    "model_id": model.id,
                    "model_version": model.version,
                    "status": "closed",
                    "created_at": _at(cyc.launch, -30),
                    "launched_at": _at(cyc.launch, 0),
                    "closed_at": closes,
                },
            )
        ).scalar_one()
        scored = [r for r, s in enumerate(cyc.status) if s in ("completed", "submitted")]
        lines = batch.score_rows([cyc.codes[r] for r in scored], [cyc.validation[r] for r in scored])
        score_of = {r: orjson.loads(line) for r, line in zip(scored, lines, strict=True)}
        rows = []
        for r, s in enumerate(cyc.status):
            rows.append(
                {
                    "organisation_id": int(org_ids[cyc.org[r]]),
                    "cycle_id": cycle_id,
                    "model_id": model.id,
                    "model_version": model.version,
                    "status": s,
                    "version": 0 if s == "invited" else 12,
                    "section": len(model.sections) if r in score_of else 0,
                    "sections_sent": sections if s != "invited" else "",
                    "thread_id": None,
                    "score": score_of.get(r),
                    "created_at": _at(cyc.launch, 0),
                    "started_at": cyc.started[r],
                    "completed_at": cyc.completed[r],
                    "submitted_at": cyc.submitted[r],
                    "closed_at": None,
                    "last_activity_at": cyc.submitted[r] or cyc.completed[r] or cyc.started[r],
                }
            )
        await conn.execute(responses_t.insert(), rows)
        rid_of = dict(
            (
                await conn.execute(
                    sa.select(responses_t.c.organisation_id, responses_t.c.id).where(
                        responses_t.c.cycle_id == cycle_id
                    )
                )
            ).all()
        )
        answer_rows: list[tuple[Any, ...]] = []
        ids = batch.s.ids
        for r, s in enumerate(cyc.status):
            if s == "invited":
                continue
            org = data.organisations[int(cyc.org[r])]
            rid = rid_of[int(org_ids[cyc.org[r]])]
            who = org.contacts[0].email
            at = _driver_time(dialect, cyc.completed[r] or cyc.started[r])
            channel = "web" if (r % 3 == 0) else "mail"
            opts = cyc.options[r]
            cert = cyc.certain[r]
            for i, qid in enumerate(ids):
                o = opts[i]
                if o is not None:
                    answer_rows.append((rid, qid, o, None, bool(cert[i]), None, False, who, channel, at, 1))
            for vid in validation_ids:
                value = cyc.validation[r].get(vid)
                if value is not None:
                    answer_rows.append((rid, vid, "", value, None, None, False, who, channel, at, 1))
        await _bulk_insert(session, answers_t, _ANSWER_COLUMNS, answer_rows)
        await _bulk_insert(session, revisions_t, _ANSWER_COLUMNS, answer_rows)
        counts["responses"] += len(rows)
        counts["answers"] += len(answer_rows)
        counts["submitted"] += sum(1 for s in cyc.status if s == "submitted")
    if dialect == "postgresql":  # fresh statistics, so that the planner knows the tables' new sizes
        await conn.exec_driver_sql("ANALYZE organisations, contacts, responses, answers, answer_revisions")
    session.add(
        AuditEntry(
            actor="cli",
            action=DEMO_ACTION,
            details={
                "seed": data.seed,
                "organisations": len(data.organisations),
                "cycles": len(data.cycles),
                "cycle_names": [c.name for c in data.cycles],
            },
        )
    )
    return counts
