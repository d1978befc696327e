"""Reading a cycle's submitted responses in bulk and scoring them all at once.

A national analysis reads tens of thousands of responses with forty-odd answers each.
Reading one row per answer costs more than everything else together, so the database
joins each response's answers into one string (``group_concat`` on SQLite, ``string_agg``
on PostgreSQL: SQLAlchemy's ``aggregate_strings``) and returns one row per response:

    question US options US certainty US value  RS  question US …

(US and RS are the ASCII unit and record separators, which no stored value contains).
The pieces are then split in one go, each distinct piece is looked up once in a dictionary
that maps it to a column and a code of :class:`scoring.batch.BatchScorer` (or to a key
figure's value), and the codes are scattered into an array with NumPy. Scoring that array
is :meth:`~scoring.batch.BatchScorer.score_arrays`. The cycles of a trend are read two at a
time, each on its own connection, so that the database works on one while Python decodes
another.

"Submitted" means: status ``submitted``, or ``closed`` with a submission time (a response
that was submitted and then closed at the deadline). A withdrawn response has no
submission time and is not used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import repeat
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import Answer, Cycle, Organisation, Response, table_of
from conversations.questionnaire import Model
from scoring.batch import BatchScorer, ScoreArrays, batch_scorer_for
from scoring.score import AnswerFileError

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

US, RS = "\x1f", "\x1e"
SUBMITTED_STATUSES = ("submitted", "closed")

ORGS = table_of(Organisation)
RESPONSES = table_of(Response)
ANSWERS = table_of(Answer)
CYCLES = table_of(Cycle)


def submitted_clause() -> sa.ColumnElement[bool]:
    """The condition on ``responses`` that selects the responses an organisation submitted."""
    return sa.and_(RESPONSES.c.status.in_(SUBMITTED_STATUSES), RESPONSES.c.submitted_at.is_not(None))


@dataclass(frozen=True, slots=True)
class CycleInfo:
    id: int
    name: str
    launch: date
    deadline: date
    model_id: str
    model_version: str
    status: str = "closed"


@dataclass(frozen=True, slots=True)
class Organisations:
    """Every organisation's grouping attributes, indexed by organisation id via :meth:`rows`."""

    ids: IntArray  # sorted
    type: list[str]
    size_class: list[str | None]
    county: list[str | None]

    def rows(self, org_ids: IntArray) -> IntArray:
        """Positions of ``org_ids`` in this table."""
        return np.searchsorted(self.ids, org_ids)


@dataclass(frozen=True, slots=True)
class ScoredCycle:
    """The submitted responses of one cycle, scored; rows sorted by organisation id."""

    cycle: CycleInfo
    model: Model | None  # None: the cycle's model is not available; only stored levels are known
    org_ids: IntArray
    response_ids: IntArray
    scores: ScoreArrays | None  # None when the model is not available
    level: IntArray  # (rows,): scored, or as stored when the model is not available
    validation: FloatArray  # (rows, validation questions): value, or option index; NaN unanswered
    validation_ids: tuple[str, ...]
    unreadable: int  # stored answers the model does not allow (counted, then left out)

    @property
    def n(self) -> int:
        return len(self.org_ids)


class _Decoder:
    """Maps the pieces of the joined answer strings to (column, code) or (key figure, value)."""

    def __init__(self, model: Model, batch: BatchScorer) -> None:
        self.model = model
        self.batch = batch
        self.vpos = {v.id: k for k, v in enumerate(model.validation_questions)}
        self.keys: dict[str, int] = {}
        self.qcol: list[int] = []  # per key: question column, or -1
        self.code: list[int] = []
        self.vcol: list[int] = []  # per key: key figure column, or -1
        self.value: list[float] = []
        self.bad: list[bool] = []

    def _add(self, qcol: int, code: int, vcol: int, value: float, bad: bool = False) -> int:
        self.qcol.append(qcol)
        self.code.append(code)
        self.vcol.append(vcol)
        self.value.append(value)
        self.bad.append(bad)
        return len(self.qcol) - 1

    def learn(self, piece: str) -> int:
        parts = piece.split(US)
        if len(parts) != 4:
            key = self._add(-1, 0, -1, math.nan, bad=True)
        else:
            qid, options, certain, value = parts
            k = self.vpos.get(qid)
            if k is not None:
                key = self._add(-1, 0, k, self._figure(qid, value))
            else:
                try:
                    col, code = self.batch.encode_answer(qid, options.split(), certain == "1")
                    key = self._add(col, code, -1, math.nan)
                except AnswerFileError:
                    key = self._add(-1, 0, -1, math.nan, bad=True)
        self.keys[piece] = key
        return key

    def _figure(self, vid: str, value: str) -> float:
        vq = self.model.validation_question(vid)
        if vq is None or not value:
            return math.nan
        if vq.kind == "choice":
            letters = [o.id for o in vq.options]
            return float(letters.index(value)) if value in letters else math.nan
        try:
            return float(value)
        except ValueError:
            return math.nan

    def decode(self, blobs: Sequence[str | None]) -> tuple[IntArray, FloatArray, int]:
        """Codes (rows, questions), key figures (rows, figures) and the number of unreadable answers."""
        n = len(blobs)
        codes = self.batch.unanswered_rows(n)
        figures = np.full((n, len(self.vpos)), np.nan)
        present = [b for b in blobs if b]
        if not present:
            return codes, figures, 0
        counts = np.fromiter((b.count(RS) + 1 if b else 0 for b in blobs), dtype=np.int64, count=n)
        pieces = RS.join(present).split(RS)
        get = self.keys.get
        idx = np.fromiter(map(get, pieces, repeat(-1)), dtype=np.int64, count=len(pieces))
        missing = np.nonzero(idx < 0)[0]
        if len(missing):
            for pos in missing.tolist():
                piece = pieces[pos]
                k = get(piece)
                idx[pos] = k if k is not None else self.learn(piece)
        row = np.repeat(np.arange(n), counts)
        qcol = np.array(self.qcol, dtype=np.int64)[idx]
        vcol = np.array(self.vcol, dtype=np.int64)[idx]
        q = qcol >= 0
        codes[row[q], qcol[q]] = np.array(self.code, dtype=np.int64)[idx[q]]
        v = vcol >= 0
        figures[row[v], vcol[v]] = np.array(self.value)[idx[v]]
        bad = int(np.array(self.bad, dtype=bool)[idx].sum())
        return codes, figures, bad


_decoders: dict[int, _Decoder] = {}


def _decoder(model: Model, batch: BatchScorer) -> _Decoder:
    """The decoder of ``model`` (cached for the model object's lifetime, like the batch scorer)."""
    d = _decoders.get(id(model))
    if d is None or d.model is not model or d.batch is not batch:
        d = _decoders[id(model)] = _Decoder(model, batch)
    return d


def _joined_answers(dialect: str) -> sa.ColumnElement[Any]:
    """The response's answers as one string (see the module docstring).

    One formatting call per answer (``printf`` on SQLite, ``format`` on PostgreSQL; both
    write NULL as nothing) costs the database less than a chain of ``||``, and four
    separate aggregates (one per column) cost Python more to put together again.
    """
    fmt = sa.literal(US.join(["%s"] * 4))
    certain = sa.cast(ANSWERS.c.certain, sa.Integer)
    args = (fmt, ANSWERS.c.question, ANSWERS.c.options, certain, ANSWERS.c.value)
    piece = sa.func.format(*args) if dialect == "postgresql" else sa.func.printf(*args)
    return sa.func.aggregate_strings(piece, RS)


async def cycles(session: AsyncSession) -> list[CycleInfo]:
    """Every cycle, by launch day."""
    rows = await session.exec(sa.select(CYCLES).order_by(CYCLES.c.launch, CYCLES.c.id))  # type: ignore[call-overload]
    return [
        CycleInfo(r.id, r.name, r.launch, r.deadline, r.model_id, r.model_version, r.status) for r in rows
    ]


async def organisations(session: AsyncSession) -> Organisations:
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(ORGS.c.id, ORGS.c.type, ORGS.c.size_class, ORGS.c.county).order_by(ORGS.c.id)
        )
    ).all()
    return Organisations(
        np.array([r[0] for r in rows], dtype=np.int64),
        [r[1] for r in rows],
        [r[2] or None for r in rows],
        [r[3] or None for r in rows],
    )


def pick_model(models: Iterable[Model], model_id: str, version: str) -> Model | None:
    for m in models:
        if m.id == model_id and m.version == version:
            return m
    return None


async def scored_cycle(session: AsyncSession, cycle: CycleInfo, models: Sequence[Model]) -> ScoredCycle:
    """The submitted responses of ``cycle``, read in one query and scored under the cycle's model.

    A response recorded under another model version than the cycle's is scored under its own
    model when that is available; when the cycle's model is not available, the levels stored
    with the responses are used (and nothing per question is known; a response without a
    stored score is then left out).
    """
    model = pick_model(models, cycle.model_id, cycle.model_version)
    conn = await session.connection()
    if model is None:
        rows = (
            await conn.execute(
                sa.select(RESPONSES.c.organisation_id, RESPONSES.c.id, RESPONSES.c.score)
                .where(RESPONSES.c.cycle_id == cycle.id, submitted_clause(), RESPONSES.c.score.is_not(None))
                .order_by(RESPONSES.c.organisation_id)
            )
        ).all()
        level = np.array([int((r[2] or {}).get("level", 0)) for r in rows], dtype=np.int64)
        return ScoredCycle(
            cycle,
            None,
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            None,
            level,
            np.zeros((len(rows), 0)),
            (),
            0,
        )
    joined = (
        sa.select(RESPONSES.c.organisation_id, RESPONSES.c.id, _joined_answers(conn.dialect.name))
        .select_from(
            RESPONSES.outerjoin(
                ANSWERS, sa.and_(ANSWERS.c.response_id == RESPONSES.c.id, ANSWERS.c.skipped.is_(False))
            )
        )
        .where(RESPONSES.c.cycle_id == cycle.id, submitted_clause())
        .group_by(RESPONSES.c.id)
    )
    rows = sorted((await conn.execute(joined)).all(), key=lambda r: r[0])
    batch = batch_scorer_for(model)
    codes, figures, bad = _decoder(model, batch).decode([r[2] for r in rows])
    scores = batch.score_arrays(codes)
    return ScoredCycle(
        cycle=cycle,
        model=model,
        org_ids=np.array([r[0] for r in rows], dtype=np.int64),
        response_ids=np.array([r[1] for r in rows], dtype=np.int64),
        scores=scores,
        level=scores.level,
        validation=figures,
        validation_ids=tuple(v.id for v in model.validation_questions),
        unreadable=bad,
    )


async def status_counts(session: AsyncSession, cycle_id: int) -> dict[str, int]:
    """Responses of the cycle per status."""
    rows = await session.exec(  # type: ignore[call-overload]
        sa.select(RESPONSES.c.status, sa.func.count())
        .where(RESPONSES.c.cycle_id == cycle_id)
        .group_by(RESPONSES.c.status)
    )
    return {r[0]: int(r[1]) for r in rows}
