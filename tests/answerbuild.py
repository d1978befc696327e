"""Building answer sets for tests, for any model, and the level rules re-implemented.

Everything here is written from ``shared/spec/scoring-rules.md`` without looking at how
``scoring/`` does it, so that tests can use it as an independent oracle:

- :func:`points_of` scores a choice of options (count: sum capped; scale: lowest);
- :func:`choice_for` finds a choice worth exactly ``p`` points on a question;
- :func:`document` turns points and certainty per question into an answer document;
- :func:`thresholds`, :func:`conditions`, :func:`reference_level` are the three level
  conditions, with exact thresholds (``Fraction``), for all questions or one area's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import combinations
from typing import Any, NamedTuple

from conversations.questionnaire import Model, Question


def cap_of(model: Model | None) -> int:
    return model.points_max if model is not None else 5


def points_of(question: Question, options: Iterable[str], cap: int = 5) -> int:
    """Points of an (allowed) choice of option letters, as the rules define them."""
    chosen = set(options)
    values = [o.points for o in question.options if o.id in chosen]
    if not values:
        return 0
    if question.scoring == "scale":
        return min(values)
    return min(sum(values), cap)


def max_points(question: Question, cap: int = 5) -> int:
    """The most an answer to ``question`` can earn."""
    plain = [o.points for o in question.options if not o.exclusive]
    best = max([o.points for o in question.options], default=0)
    if question.scoring == "count":
        best = max(best, sum(plain))
    return min(best, cap)


def all_choices(question: Question) -> list[tuple[str, ...]]:
    """Every allowed choice: each exclusive option alone, and for ``count`` every
    non-empty subset of the other options, for ``scale`` every adjacent range of them."""
    plain = [o.id for o in question.options if not o.exclusive]
    out: list[tuple[str, ...]] = [(o.id,) for o in question.options if o.exclusive]
    if question.scoring == "count":
        for size in range(1, len(plain) + 1):
            out.extend(combinations(plain, size))
    else:
        for i in range(len(plain)):
            for j in range(i + 1, len(plain) + 1):
                out.append(tuple(plain[i:j]))
    return out


def choice_for(question: Question, p: int, *, cap: int = 5, flagged: bool | None = False) -> list[str]:
    """A choice of options worth exactly ``p`` points.

    ``count``: the cheapest (fewest options) subset of non-exclusive options worth ``p``;
    ``scale``: the single non-exclusive option with ``p`` points; ``p = 0``: an exclusive
    option worth 0 (unflagged when ``flagged`` is False, flagged when True, any when None).

    Raises:
        ValueError: the question has no such choice.
    """
    if p == 0:
        zero = [o for o in question.options if o.exclusive and o.points == 0]
        if flagged is not None:
            zero = [o for o in zero if bool(o.flags) == flagged]
        if not zero:
            raise ValueError(f"question {question.id}: no exclusive 0-point option (flagged={flagged})")
        return [zero[0].id]
    plain = [o for o in question.options if not o.exclusive]
    if question.scoring == "scale":
        for o in plain:
            if o.points == p:
                return [o.id]
        raise ValueError(f"question {question.id}: no scale option worth {p}")
    for size in range(1, len(plain) + 1):
        for subset in combinations(plain, size):
            if points_of(question, [o.id for o in subset], cap) == p:
                return [o.id for o in subset]
    raise ValueError(f"question {question.id}: no set of aspects worth {p}")


def flagged_choice(question: Question, flag: str | None = None) -> list[str] | None:
    """A flagged (in_progress/recent) option of ``question``, or None."""
    for o in question.options:
        if o.flags and (flag is None or flag in o.flags):
            return [o.id]
    return None


def document(
    model: Model,
    points: Mapping[str, int],
    certain: Mapping[str, bool] | Iterable[str] = (),
    *,
    options: Mapping[str, Sequence[str]] | None = None,
    validation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An answer document answering every question in ``points`` (0 points = an
    exclusive 0-point option) plus the explicit ``options``; ``certain`` is a mapping or
    the set of ids answered certain. Questions in neither are unanswered."""
    cap = cap_of(model)
    flags = dict(certain) if isinstance(certain, Mapping) else dict.fromkeys(certain, True)

    def is_certain(qid: str) -> bool:
        return bool(flags.get(qid, False))

    answers: dict[str, Any] = {}
    for qid, p in points.items():
        q = model.question(qid)
        assert q is not None, qid
        answers[qid] = {"options": choice_for(q, p, cap=cap), "certain": is_certain(qid)}
    for qid, opts in (options or {}).items():
        answers[qid] = {"options": list(opts), "certain": is_certain(qid)}
    doc: dict[str, Any] = {"model": model.id, "answers": answers}
    if validation is not None:
        doc["validation"] = dict(validation)
    return doc


# --------------------------------------------------------------------------- the rules


def level_order(model: Model, area: str | None = None) -> list[Question]:
    """The level-grounding questions (of one area), lowest level first."""
    qs = [q for q in model.questions if area is None or area in q.areas]
    return sorted(qs, key=lambda q: q.level)  # stable: file order within a level


def share(model: Model, n: int) -> Fraction:
    """c(n) read exactly from the model (a decimal, never a float product)."""
    value: Any = model.levels[n - 1].certainty_share
    return Fraction(Decimal(str(value))) if isinstance(value, float | str) else Fraction(value)


class Thresholds(NamedTuple):
    f: int  # F(n)
    k: int  # K(n) = ceil(F(n)·(n + 0.5))
    c: int  # ceil(c(n)·F(n))


def thresholds(model: Model, n: int, area: str | None = None) -> Thresholds:
    f = sum(1 for q in level_order(model, area) if q.level <= n)
    k = math.ceil(Fraction(f) * (n + Fraction(1, 2)))
    c = math.ceil(share(model, n) * f)
    return Thresholds(f, k, c)


def conditions(
    model: Model,
    n: int,
    points: Mapping[str, int],
    certain: Mapping[str, bool | None],
    area: str | None = None,
) -> tuple[bool, bool, bool]:
    """(minimum, total, certainty) of level ``n`` for all questions or one area's.

    ``points``: missing ids count 0; ``certain``: True/False for answered ids, missing or
    None for unanswered ones."""
    qs = level_order(model, area)
    th = thresholds(model, n, area)
    qn = [q for q in qs if q.level <= n]
    minimum = all(points.get(q.id, 0) >= n for q in qn)
    total = sum(points.get(q.id, 0) for q in qs) >= th.k
    certainty = sum(1 for q in qn if certain.get(q.id) is True) >= th.c
    return minimum, total, certainty


def holds(
    model: Model,
    n: int,
    points: Mapping[str, int],
    certain: Mapping[str, bool | None],
    area: str | None = None,
) -> bool:
    if thresholds(model, n, area).f == 0:
        return True  # vacuous
    return all(conditions(model, n, points, certain, area))


def reference_level(
    model: Model,
    points: Mapping[str, int],
    certain: Mapping[str, bool | None],
    area: str | None = None,
) -> int:
    """The highest n such that levels 1..n all hold (0 when level 1 does not)."""
    level = 0
    for n in range(1, len(model.levels) + 1):
        if not holds(model, n, points, certain, area):
            break
        level = n
    return level


def points_and_certainty(model: Model, doc: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, bool]]:
    """Points and certainty per answered question of an (allowed) answer document."""
    cap = cap_of(model)
    pts: dict[str, int] = {}
    cert: dict[str, bool] = {}
    for qid, ans in doc.get("answers", {}).items():
        q = model.question(qid)
        assert q is not None, qid
        pts[qid] = points_of(q, [o.strip().lower() for o in ans["options"]], cap)
        cert[qid] = ans.get("certain") is True
    return pts, cert
