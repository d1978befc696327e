"""The national analysis of a cycle: what the coordinating authority reports to the government.

:func:`national_report` reads the submitted responses of the cycle and of every earlier
cycle (concurrently, each in one query; see :mod:`bot.analysis.load`), scores them as
arrays and returns the report as a JSON-ready dict (keys in ``interfaces.md``, "National
report", plus richer ones). :func:`analyse` is the pure part: arrays in, dict out.

What the report holds (seed report 3.2 and 3.4):

* ``levels`` (and ``level_shares``) overall, ``by_type``, ``by_size`` (size classes are per
  type) and ``by_county``: counts per level; groups smaller than the smallest group shown to
  organisations are kept here but marked ``"small": true``;
* ``areas``: each work area's indicative levels;
* ``blocking_questions``: per step L → L+1, for the organisations at level L, how many have
  each question of Q(L+1) below its minimum L+1, most often first, and how many miss the
  total points or the certain answers of L+1;
* ``uncertainty_by_question``: uncertain answers among answered ones, per question (a high
  rate points at an unclear question);
* ``validation``: each key figure's answered count, quartiles and mean, the same per level,
  and its rank correlation with the level;
* ``trend``: every cycle's distribution under its own model version, and per earlier cycle
  the organisations present in both: a matrix of level changes when the model version is
  the same, and otherwise only the mean points of the questions whose id and scoring are
  unchanged (``scoring.compare.question_signature``), with a note saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.analysis.load import (
    CycleInfo,
    Organisations,
    ScoredCycle,
    cycles,
    organisations,
    scored_cycle,
    status_counts,
)
from bot.db.database import Database
from bot.db.tables import ORG_TYPES
from bot.settings import Settings
from conversations.questionnaire import Model, load_model
from scoring.batch import batch_scorer_for
from scoring.compare import question_signature

UNKNOWN = "unknown"
MIN_GROUP = 5
PARALLEL = 2  # cycles read at once (measured best on SQLite and PostgreSQL alike)


class NoSuchCycle(LookupError):
    """No cycle of that name (or no cycle at all)."""


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(values: NDArray[np.int64], top: int) -> dict[str, int]:
    c = np.bincount(values, minlength=top + 1) if len(values) else np.zeros(top + 1, dtype=np.int64)
    return {str(n): int(c[n]) for n in range(top + 1)}


def _num(value: float) -> float | int | None:
    """A figure for JSON: whole numbers as int, others rounded to 2 decimals; NaN as None."""
    if value != value:  # NaN
        return None
    return int(value) if float(value).is_integer() else round(float(value), 2)


def _grouped(keys: Sequence[str], level: NDArray[np.int64], top: int, k: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not len(keys):
        return out
    names, inverse = np.unique(np.array(keys, dtype=object), return_inverse=True)
    for g, name in enumerate(names.tolist()):
        mask = inverse == g
        n = int(mask.sum())
        out[str(name)] = {"n": n, "levels": _counts(level[mask], top), "small": n < k}
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == UNKNOWN, kv[0])))


def _ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average ranks (ties share the mean of their positions)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    return np.asarray(mean_rank[inverse], dtype=np.float64)


def spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float | None:
    """Spearman's rank correlation, or None when either side does not vary."""
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return None
    return round(float(((rx - rx.mean()) * (ry - ry.mean())).mean() / (sx * sy)), 4)


def _figure_summary(values: NDArray[np.float64]) -> dict[str, Any]:
    if not len(values):
        return {"answered": 0, "q1": None, "median": None, "q3": None, "mean": None}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {
        "answered": len(values),
        "q1": _num(q1),
        "median": _num(med),
        "q3": _num(q3),
        "mean": _num(float(values.mean())),
    }


def _validation(model: Model, cur: ScoredCycle, top: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, vq in enumerate(model.validation_questions):
        col = cur.validation[:, k] if cur.validation.shape[1] > k else np.zeros(0)
        given = ~np.isnan(col)
        values, levels = col[given], cur.level[given]
        entry: dict[str, Any] = {"kind": vq.kind}
        if vq.kind == "choice":
            letters = [o.id for o in vq.options]
            idx = values.astype(np.int64)
            entry["answered"] = int(given.sum())
            entry["counts"] = {letters[i]: int((idx == i).sum()) for i in range(len(letters))}
            entry["by_level"] = {
                str(n): {letters[i]: int(((idx == i) & (levels == n)).sum()) for i in range(len(letters))}
                for n in range(top + 1)
            }
        else:
            entry.update(_figure_summary(values))
            entry["by_level"] = {str(n): _figure_summary(values[levels == n]) for n in range(top + 1)}
            entry["spearman_level"] = spearman(values, levels.astype(np.float64))
        out[vq.id] = entry
    return out


def _blocking(model: Model, cur: ScoredCycle) -> list[dict[str, Any]]:
    assert cur.scores is not None
    s = batch_scorer_for(model).s
    sc = cur.scores
    out = []
    by_id = {q.id: q for q in model.questions}
    for L in range(s.top):
        mask = sc.level == L
        n = int(mask.sum())
        nxt = L + 1
        f, k, c = s.all.f[nxt], s.all.k[nxt], s.all.c[nxt]
        counts = sc.blocking[mask].sum(axis=0)
        questions: list[dict[str, Any]] = [
            {
                "question": sc.ids[i],
                "level": by_id[sc.ids[i]].level,
                "areas": list(by_id[sc.ids[i]].areas),
                "count": int(counts[i]),
                "share": _share(int(counts[i]), n),
            }
            for i in range(f)
            if counts[i]
        ]
        questions.sort(key=lambda q: (-int(q["count"]), s.position[str(q["question"])]))
        points_short = int((sc.total[mask] < k).sum())
        certain_short = int((sc.certain[mask][:, :f].sum(axis=1) < c).sum())
        out.append(
            {
                "from_level": L,
                "to_level": nxt,
                "organisations": n,
                "points_required": int(k),
                "certain_required": int(c),
                "below_points": points_short,
                "below_certain": certain_short,
                "questions": questions,
            }
        )
    return out


def _uncertainty(model: Model, cur: ScoredCycle) -> dict[str, Any]:
    assert cur.scores is not None
    sc = cur.scores
    answered = sc.answered.sum(axis=0)
    uncertain = (sc.answered & ~sc.certain).sum(axis=0)
    levels = {q.id: q.level for q in model.questions}
    return {
        qid: {
            "level": levels[qid],
            "answered": int(answered[i]),
            "uncertain": int(uncertain[i]),
            "unanswered": int(cur.n - answered[i]),
            "rate": _share(int(uncertain[i]), int(answered[i])),
        }
        for i, qid in enumerate(sc.ids)
    }


def _areas(
    model: Model, cur: ScoredCycle, top: int, types: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    assert cur.scores is not None
    sc = cur.scores
    areas = {}
    for a, aid in enumerate(sc.area_ids):
        col = sc.areas[:, a]
        area = model.area(aid)
        areas[aid] = {
            "name": area.name.get(model.default_language) if area is not None else aid,
            "levels": _counts(col, top),
            "mean_level": _num(float(col.mean())) if len(col) else None,
            "at_least_1": _share(int((col >= 1).sum()), len(col)),
        }
    tarr = np.array(types, dtype=object)
    by_type = {
        t: {
            aid: _num(float(sc.areas[tarr == t, a].mean())) if (tarr == t).any() else None
            for a, aid in enumerate(sc.area_ids)
        }
        for t in ORG_TYPES
    }
    return areas, by_type


def _question_means(
    cyc: ScoredCycle, rows: NDArray[np.int64], qids: Sequence[str]
) -> dict[str, float | None]:
    assert cyc.scores is not None
    pos = {q: i for i, q in enumerate(cyc.scores.ids)}
    pts = cyc.scores.points[rows]
    return {q: (_num(float(pts[:, pos[q]].mean())) if len(rows) else None) for q in qids}


def comparable_questions(now: Model, before: Model) -> list[str]:
    """Questions whose id and scoring are unchanged between the two models (level order of ``now``)."""
    ids = batch_scorer_for(now).s.ids
    out = []
    for qid in ids:
        q, old = now.question(qid), before.question(qid)
        if q is not None and old is not None and question_signature(q) == question_signature(old):
            out.append(qid)
    return out


def _trend(cur: ScoredCycle, earlier: Sequence[ScoredCycle], top: int) -> dict[str, Any]:
    def same(c: ScoredCycle) -> bool:
        return (c.cycle.model_id, c.cycle.model_version) == (cur.cycle.model_id, cur.cycle.model_version)

    cycles_out = []
    for c in [*earlier, cur]:
        entry: dict[str, Any] = {
            "cycle": c.cycle.name,
            "model": {"id": c.cycle.model_id, "version": c.cycle.model_version},
            "same_model": same(c),
            "scored_from_answers": c.scores is not None,
            "submitted": c.n,
            "levels": _counts(c.level, top),
            "below_level_1": _share(int((c.level == 0).sum()), c.n),
        }
        if c.scores is not None:
            entry["area_means"] = {
                aid: _num(float(c.scores.areas[:, a].mean())) if c.n else None
                for a, aid in enumerate(c.scores.area_ids)
            }
            entry["mean_points"] = _num(float(c.scores.total.mean())) if c.n else None
        cycles_out.append(entry)
    paired = []
    for e in reversed(earlier):  # the latest earlier cycle first
        common, i_now, i_before = np.intersect1d(cur.org_ids, e.org_ids, return_indices=True)
        entry = {
            "cycle": e.cycle.name,
            "model": {"id": e.cycle.model_id, "version": e.cycle.model_version},
            "same_model": same(e),
            "organisations": len(common),
        }
        if same(e):
            before, after = e.level[i_before], cur.level[i_now]
            matrix = np.bincount(before * (top + 1) + after, minlength=(top + 1) ** 2).reshape(
                top + 1, top + 1
            )
            entry["transitions"] = {
                str(b): {str(a): int(matrix[b, a]) for a in range(top + 1)} for b in range(top + 1)
            }
            entry["improved"] = int((after > before).sum())
            entry["unchanged"] = int((after == before).sum())
            entry["declined"] = int((after < before).sum())
            entry["levels_before"] = _counts(before, top)
            entry["levels_after"] = _counts(after, top)
            entry["note"] = "same model version: levels are compared"
        elif e.model is not None and cur.model is not None:
            qids = comparable_questions(cur.model, e.model)
            entry["comparable_questions"] = qids
            entry["question_points"] = {
                q: {"before": b, "after": a}
                for (q, b), a in zip(
                    _question_means(e, i_before, qids).items(),
                    _question_means(cur, i_now, qids).values(),
                    strict=True,
                )
            }
            entry["note"] = (
                f"model changed from {e.cycle.model_id} v{e.cycle.model_version} to {cur.cycle.model_id} "
                f"v{cur.cycle.model_version}: levels are not compared; only the {len(qids)} questions with "
                "unchanged id and scoring are"
            )
        else:
            entry["note"] = (
                f"the model {e.cycle.model_id} v{e.cycle.model_version} is not available: levels "
                "(as stored) are shown per cycle but not compared"
            )
        paired.append(entry)
    return {"cycles": cycles_out, "paired": paired}


def analyse(
    cur: ScoredCycle,
    earlier: Sequence[ScoredCycle],
    orgs: Organisations,
    *,
    statuses: dict[str, int] | None = None,
    min_group: int = MIN_GROUP,
    today: date | None = None,
) -> dict[str, Any]:
    """The national report of ``cur`` (scored from answers) with trends against ``earlier``.

    The report is ``preliminary`` while the cycle is not closed and its deadline (``today``,
    default the system's date) has not passed: organisations may still submit.

    Raises:
        ValueError: the current cycle's model is not available.
    """
    if cur.model is None or cur.scores is None:
        raise ValueError(
            f"the model {cur.cycle.model_id} v{cur.cycle.model_version} of cycle {cur.cycle.name} "
            "is not available"
        )
    model = cur.model
    top = model.top_level
    rows = orgs.rows(cur.org_ids)
    types = [orgs.type[r] for r in rows.tolist()]
    sizes = [f"{orgs.type[r]}\x00{orgs.size_class[r] or UNKNOWN}" for r in rows.tolist()]
    counties = [orgs.county[r] or UNKNOWN for r in rows.tolist()]
    level = cur.level
    by_size_flat = _grouped(sizes, level, top, min_group)
    by_size: dict[str, dict[str, Any]] = {t: {} for t in ORG_TYPES}
    for key, value in by_size_flat.items():
        t, size = key.split("\x00")
        by_size.setdefault(t, {})[size] = value
    tarr = np.array(types, dtype=object)
    registered = {t: orgs.type.count(t) for t in ORG_TYPES}
    submitted_by_type = {t: int((tarr == t).sum()) for t in ORG_TYPES}
    areas, areas_by_type = _areas(model, cur, top, types)
    return {
        "cycle": cur.cycle.name,
        "model": {"id": cur.cycle.model_id, "version": cur.cycle.model_version},
        "deadline": cur.cycle.deadline.isoformat(),
        "cycle_status": cur.cycle.status,
        "preliminary": cur.cycle.status != "closed" and (today or date.today()) <= cur.cycle.deadline,
        "submitted": cur.n,
        "levels": _counts(level, top),
        "level_shares": {str(n): _share(int((level == n).sum()), cur.n) for n in range(top + 1)},
        "by_type": {t: _counts(level[tarr == t], top) for t in ORG_TYPES},
        "by_size": by_size,
        "by_county": _grouped(counties, level, top, min_group),
        "areas": areas,
        "areas_by_type": areas_by_type,
        "blocking_questions": _blocking(model, cur),
        "uncertainty_by_question": _uncertainty(model, cur),
        "validation": _validation(model, cur, top),
        "trend": _trend(cur, earlier, top),
        "participation": {
            "registered": registered,
            "submitted": submitted_by_type,
            "rate": {t: _share(submitted_by_type[t], registered[t]) for t in ORG_TYPES},
            "responses_by_status": statuses or {},
        },
        "small_group": min_group,
        "unreadable_answers": cur.unreadable,
    }


def available_models(
    settings: Settings, paths: Sequence[str] = (), *, current: Model | None = None
) -> list[Model]:
    """The models an analysis can score with: ``current`` (or the configured one), the bundled
    one, ``ASSESSBOT_EARLIER_MODEL_PATHS`` and ``paths`` (for cycles under other versions).

    Raises:
        ModelError: a model file has problems.
        OSError: a model file cannot be read.
    """
    models: list[Model] = [current] if current is not None else []
    wanted: list[str | None] = [settings.model_path or None, None]
    wanted += [p.strip() for p in settings.earlier_model_paths.split(",") if p.strip()]
    wanted += [p for p in paths if p.strip()]
    for path in wanted:
        if current is not None and path == (settings.model_path or None):
            continue
        m = load_model(path)
        if not any(x.id == m.id and x.version == m.version for x in models):
            models.append(m)
    return models


async def _scored(db: Database, cycle: CycleInfo, models: Sequence[Model]) -> ScoredCycle:
    async with db.transaction(readonly=True) as session:
        return await scored_cycle(session, cycle, models)


async def load_cycles(
    db: Database, cycle_name: str | None, models: Sequence[Model]
) -> tuple[ScoredCycle, list[ScoredCycle], Organisations, dict[str, int]]:
    """The scored cycle, every earlier cycle scored (oldest first), the organisations and status counts.

    Raises:
        NoSuchCycle: no cycle of that name, or no cycle at all.
    """
    async with db.transaction(readonly=True) as session:
        all_cycles = await cycles(session)
        if not all_cycles:
            raise NoSuchCycle("det finns ingen omgång")
        if cycle_name is None:
            current = all_cycles[-1]
        else:
            found = [c for c in all_cycles if c.name == cycle_name]
            if not found:
                raise NoSuchCycle(f"ingen omgång heter {cycle_name!r}")
            current = found[0]
        orgs = await organisations(session)
        statuses = await status_counts(session, current.id)
    before = [c for c in all_cycles if (c.launch, c.id) < (current.launch, current.id)]
    # a connection per cycle, a few at a time: the database reads one while Python decodes another
    gate = asyncio.Semaphore(PARALLEL)

    async def one(c: CycleInfo) -> ScoredCycle:
        async with gate:
            return await _scored(db, c, models)

    scored = await asyncio.gather(*(one(c) for c in [*before, current]))
    return scored[-1], list(scored[:-1]), orgs, statuses


async def national_report(
    db: Database, cycle_name: str | None, models: Sequence[Model], *, min_group: int = MIN_GROUP
) -> dict[str, Any]:
    """The national report of the cycle (the latest when ``cycle_name`` is None).

    Raises:
        NoSuchCycle: see :func:`load_cycles`.
        ValueError: the cycle's model is not among ``models``.
    """
    cur, earlier, orgs, statuses = await load_cycles(db, cycle_name, models)
    return analyse(cur, earlier, orgs, statuses=statuses, min_group=min_group)
