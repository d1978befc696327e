"""The scoring engine: level, area levels, next-level facts, MSBFS indication, projection.

Implements every rule of ``shared/spec/scoring-rules.md``. A :class:`Scorer` is compiled
once per model; :func:`score` and :func:`score_document` use a cached scorer per model.

Theory of operation. Questions are kept in level order, so ``Q(n)`` is the prefix of
length ``F(n)`` of every per-question list, and the three conditions of a level are a
``min`` over a slice, a sum, and a ``count(True)`` over a slice. Thresholds are exact
integers: ``K(n) = ceil(F(n)·(n + 1/2)) = (F(n)·(2n+1) + 1) // 2`` and the certain answers
needed, ``ceil(c(n)·F(n))``, with ``c(n)`` a :class:`fractions.Fraction`. Each question
has few possible choices (a subset of aspects, or a range), so the checked meaning of a
choice — points, the step to the next option, projected points — is computed once and
remembered per question: a national batch then costs a dictionary lookup per answer.

Pure functions over values; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from conversations.questionnaire import Model, Question
from scoring.answers import Answer, AnswerProblem, check_options, check_validation_value
from scoring.result import (
    Certainty,
    FlaggedAnswer,
    ForwardLooking,
    Indication,
    NextLevel,
    RequirementStatus,
    ScoreResult,
    Shortfall,
)


class AnswerFileError(ValueError):
    """An answer that cannot be scored; names the question and the option."""

    def __init__(self, problem: AnswerProblem | str) -> None:
        self.problem = problem
        super().__init__(problem if isinstance(problem, str) else problem.message())


def points_required(count: int, level: int) -> int:
    """``K(n) = ceil(F(n) · (n + 0.5))``, computed exactly as ``ceil(F(2n+1)/2)``."""
    return (count * (2 * level + 1) + 1) // 2


class Choice(NamedTuple):
    """The checked meaning of one choice of options on one question."""

    options: tuple[str, ...]  # canonical: lower case, display order
    points: int
    step: int  # points gained by moving up one answer option; 0 = no headroom
    projected: int  # points if flagged (in progress / recent) work were done
    flagged: tuple[tuple[str, str, int, int], ...]  # (option, flag, points, projected)


class _Group(NamedTuple):
    """A set of questions (all of them, or one area's) with per-level thresholds."""

    indices: tuple[int, ...]  # positions in level order
    f: tuple[int, ...]  # f[n] = F(n): the prefix of ``indices`` with level <= n
    k: tuple[int, ...]  # k[n] = K(n)
    c: tuple[int, ...]  # c[n] = certain answers required


_NO_CHOICE_KEY: tuple[str, ...] = ()


class Scorer:
    """A model compiled for fast scoring."""

    def __init__(self, model: Model) -> None:
        self.model = model
        order = {q.id: n for n, q in enumerate(model.questions)}
        self.questions: tuple[Question, ...] = tuple(
            sorted(model.questions, key=lambda q: (q.level, order[q.id]))
        )
        self.ids = tuple(q.id for q in self.questions)
        self.position = {q.id: i for i, q in enumerate(self.questions)}
        self.levels = tuple(q.level for q in self.questions)
        self.cap = model.points_max
        self.top = model.top_level
        self.max_points = tuple(self._max_points(q) for q in self.questions)
        shares = [lv.certainty_share for lv in model.levels]
        self.all = self._group(tuple(range(len(self.questions))), shares)
        self.area_ids = tuple(a.id for a in model.areas)
        self.area_groups = tuple(
            self._group(tuple(i for i, q in enumerate(self.questions) if a in q.areas), shares)
            for a in self.area_ids
        )
        self.requirements = tuple(
            (r, tuple((self.position.get(c.question, -1), c.option, c.min_points) for c in r.conditions))
            for r in model.msbfs
        )
        self.validation = {v.id: v for v in model.validation_questions}
        # remembered choices per question; the empty key is "unanswered"
        self.choices: tuple[dict[tuple[str, ...], Choice | AnswerProblem], ...] = tuple(
            {} for _ in self.questions
        )
        self.unanswered = tuple(self._choice(i, ()) for i in range(len(self.questions)))
        self._validation_cache: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    # ------------------------------------------------------------------ compiling

    def _max_points(self, q: Question) -> int:
        plain = [o.points for o in q.options if not o.exclusive]
        best = max([o.points for o in q.options] or [0])
        if q.scoring == "count":
            best = max(best, sum(plain))
        return min(best, self.cap)

    def _group(self, indices: tuple[int, ...], shares: Sequence[Any]) -> _Group:
        f = [0] + [sum(1 for i in indices if self.levels[i] <= n) for n in range(1, self.top + 1)]
        k = [0] + [points_required(f[n], n) for n in range(1, self.top + 1)]
        c = [0] + [math.ceil(shares[n - 1] * f[n]) for n in range(1, self.top + 1)]
        return _Group(indices, tuple(f), tuple(k), tuple(c))

    def _choice(self, i: int, options: tuple[str, ...]) -> Choice:
        """Compute the meaning of an allowed choice (``()`` = unanswered)."""
        q = self.questions[i]
        chosen = [o for o in q.options if o.id in options]
        scale = q.scoring == "scale"

        def value(pts: list[int]) -> int:
            if not pts:
                return 0
            return min(pts) if scale else min(sum(pts), self.cap)

        points = value([o.points for o in chosen])
        projected = value(
            [o.projected_points if o.projected_points is not None else o.points for o in chosen]
        )
        flagged = tuple(
            (o.id, o.flags[0], o.points, o.projected_points if o.projected_points is not None else o.points)
            for o in chosen
            if o.flags
        )
        return Choice(tuple(o.id for o in chosen), points, self._step(q, chosen, points), projected, flagged)

    def _step(self, q: Question, chosen: list[Any], points: int) -> int:
        if points >= self.max_points[self.position[q.id]]:
            return 0
        plain = [o for o in q.options if not o.exclusive and o.points > 0]
        if q.scoring == "scale":
            better = [o.points for o in plain if o.points > points]
            return min(better) - points if better else 0
        exclusive = any(o.exclusive for o in chosen)
        free = [o.points for o in plain if exclusive or o not in chosen]
        headroom = self.max_points[self.position[q.id]] - points
        return min(min(free), headroom) if free else 0

    def choice(self, i: int, options: Sequence[str]) -> Choice:
        """The checked meaning of ``options`` on question ``i``.

        Raises:
            AnswerFileError: the choice is not allowed (unknown option, exclusive
                combined, non-adjacent range, twice the same option, nothing chosen).
        """
        key = tuple(options)
        remembered = self.choices[i].get(key)
        if remembered is None:
            if not all(isinstance(o, str) for o in key):
                raise AnswerFileError(f"question {self.ids[i]}: options must be option letters")
            canonical = tuple(o.strip().lower() for o in key)
            problem = check_options(self.questions[i], canonical)
            remembered = problem if problem is not None else self._choice(i, canonical)
            if len(self.choices[i]) < 4096:
                self.choices[i][key] = remembered
        if isinstance(remembered, AnswerProblem):
            raise AnswerFileError(remembered)
        return remembered

    # ------------------------------------------------------------------ input

    def from_answers(self, answers: Mapping[str, Answer]) -> tuple[list[Choice], list[bool | None]]:
        """Choices and certainty per question (level order) from typed answers.

        Raises:
            AnswerFileError: an unknown question or a choice the question does not allow.
        """
        choices = list(self.unanswered)
        certain: list[bool | None] = [None] * len(choices)
        for qid, ans in answers.items():
            i = self.position.get(qid)
            if i is None:
                raise AnswerFileError(AnswerProblem(qid, "unknown_question"))
            choices[i] = self.choice(i, ans.options)
            certain[i] = bool(ans.certain)
        return choices, certain

    def answer_parts(self, qid: str, ans: Any) -> tuple[list[str], bool]:
        """The option letters and certainty of one raw answer object.

        A string of options is read as its letters and ``certain`` may be written as
        true/false or 1/0, so that every way of scoring a document reads it alike.

        Raises:
            AnswerFileError: not an object with a list of option letters and a certainty.
        """
        if type(ans) is not dict or "options" not in ans:
            raise AnswerFileError(
                f"question {qid}: the answer must be an object with a list of option letters"
            )
        options = ans["options"]
        if isinstance(options, str):
            options = list(options)
        if type(options) is not list or not all(type(o) is str for o in options):
            raise AnswerFileError(f"question {qid}: options must be a list of option letters")
        flag = ans.get("certain", False)
        if type(flag) not in (bool, int, float) or flag not in (0, 1):
            raise AnswerFileError(AnswerProblem(qid, "bad_certainty"))
        return options, bool(flag)

    def from_document(self, raw: Mapping[str, Any]) -> tuple[list[Choice], list[bool | None]]:
        """As :meth:`from_answers`, from an answer file's ``answers`` object."""
        choices = list(self.unanswered)
        certain: list[bool | None] = [None] * len(choices)
        for qid, ans in raw.items():
            i = self.position.get(qid)
            if i is None:
                raise AnswerFileError(AnswerProblem(qid, "unknown_question"))
            options, flag = self.answer_parts(qid, ans)
            choices[i] = self.choice(i, options)
            certain[i] = flag
        return choices, certain

    def validation_values(self, raw: Mapping[str, Any] | None) -> dict[str, str]:
        """Normalised key figures.

        Raises:
            AnswerFileError: an unknown validation question or a value it cannot take.
        """
        out: dict[str, str] = {}
        if not raw:
            return out
        cache = self._validation_cache
        for vid, value in raw.items():
            if value is None or value == "":
                continue
            key = (vid, str(value))
            hit = cache.get(key)
            if hit is None:
                vq = self.validation.get(vid)
                if vq is None:
                    raise AnswerFileError(AnswerProblem(vid, "unknown_question"))
                hit = check_validation_value(vq, value)
                if len(cache) < 65536:
                    cache[key] = hit
            norm, reason = hit
            if norm is None:
                raise AnswerFileError(f"validation question {vid}: {value!r}: {reason}")
            out[vid] = norm
        return out

    # ------------------------------------------------------------------ rules

    def level_of(self, g: _Group, pts: Sequence[int], cert: Sequence[bool | None], total: int) -> int:
        """The highest n such that levels 1..n all hold, for the group's own lists."""
        f, k, c = g.f, g.k, g.c
        level = 0
        for n in range(1, self.top + 1):
            fn = f[n]
            if fn and (total < k[n] or min(pts[:fn]) < n or cert[:fn].count(True) < c[n]):
                break
            level = n
        return level

    def next_level(
        self,
        g: _Group,
        level: int,
        pts: Sequence[int],
        cert: Sequence[bool | None],
        choices: Sequence[Choice],
        total: int,
    ) -> NextLevel | None:
        """Quick facts for level ``level + 1`` on the group's own lists (None at the top)."""
        if level >= self.top:
            return None
        n = level + 1
        fn = g.f[n]
        ids = self.ids
        idx = g.indices
        below = tuple(Shortfall(ids[idx[j]], pts[j], n) for j in range(fn) if pts[j] < n)
        mandatory = sum(n - s[1] for s in below)
        required = g.k[n]
        certain_now = cert[:fn].count(True)
        keys = sorted((ch.step, j) for j, ch in enumerate(choices) if ch.step)
        maxp = self.max_points
        path = tuple((ids[idx[j]], pts[j], step, maxp[idx[j]] - pts[j]) for step, j in keys)
        return NextLevel(
            level=n,
            points_required=required,
            points_now=total,
            points_missing=max(0, required - total),
            below_minimum=below,
            mandatory_points=mandatory,
            movable_missing=max(0, required - total - mandatory),
            certain_required=g.c[n],
            certain_now=certain_now,
            certain_missing=max(0, g.c[n] - certain_now),
            uncertain=tuple(ids[idx[j]] for j in range(fn) if cert[j] is False),
            unanswered=tuple(ids[idx[j]] for j in range(fn) if cert[j] is None),
            path=path,
        )

    def indications(
        self, pts: Sequence[int], cert: Sequence[bool | None], choices: Sequence[Choice]
    ) -> tuple[Indication, ...]:
        out = []
        for req, conditions in self.requirements:
            failing: list[str] = []
            missing: list[str] = []
            for i, option, min_points in conditions:
                if i < 0 or cert[i] is None:
                    missing.append(self.ids[i] if i >= 0 else "?")
                elif (option not in choices[i].options) if option is not None else pts[i] < (min_points or 0):
                    failing.append(self.ids[i])
            status: RequirementStatus = "not_met" if failing else ("unknown" if missing else "met")
            out.append(Indication(req.id, req.reference, status, tuple(failing), tuple(missing)))
        return tuple(out)

    def forward_looking(self, choices: Sequence[Choice], cert: Sequence[bool | None]) -> ForwardLooking:
        projected = [ch.projected for ch in choices]
        items = tuple(
            FlaggedAnswer(self.ids[i], *flag) for i, ch in enumerate(choices) for flag in ch.flagged
        )
        level = self.level_of(self.all, projected, cert, sum(projected))
        return ForwardLooking(level, items)

    def result(
        self,
        choices: list[Choice],
        cert: list[bool | None],
        validation: dict[str, str] | None = None,
        *,
        area_details: bool = False,
    ) -> ScoreResult:
        """Everything the rules say about one answer set."""
        pts = [ch.points for ch in choices]
        total = sum(pts)
        level = self.level_of(self.all, pts, cert, total)
        area_levels: dict[str, int] = {}
        area_points: dict[str, int] = {}
        area_next: dict[str, NextLevel | None] = {}
        for aid, g in zip(self.area_ids, self.area_groups, strict=True):
            idx = g.indices
            ap = [pts[i] for i in idx]
            ac = [cert[i] for i in idx]
            atotal = sum(ap)
            alevel = self.level_of(g, ap, ac, atotal)
            area_levels[aid] = alevel
            area_points[aid] = atotal
            if area_details:
                area_next[aid] = self.next_level(g, alevel, ap, ac, [choices[i] for i in idx], atotal)
        fl = self.all.f[level]
        uncertain_here = tuple(self.ids[j] for j in range(fl) if cert[j] is False)
        return ScoreResult(
            model=self.model.id,
            model_version=self.model.version,
            level=level,
            points=total,
            certain=cert.count(True),
            answered=len(cert) - cert.count(None),
            areas=area_levels,
            area_points=area_points,
            ids=self.ids,
            question_points=tuple(pts),
            question_certain=tuple(cert),
            next_level=self.next_level(self.all, level, pts, cert, choices, total),
            msbfs=self.indications(pts, cert, choices),
            forward_looking=self.forward_looking(choices, cert) if level == 0 else None,
            certainty=Certainty(level, fl - cert[:fl].count(None), len(uncertain_here), uncertain_here),
            validation=validation or {},
            area_next=area_next,
        )


_scorers: dict[int, Scorer] = {}


def scorer_for(model: Model) -> Scorer:
    """The compiled scorer of ``model`` (cached for the model object's lifetime)."""
    s = _scorers.get(id(model))
    if s is None or s.model is not model:
        s = _scorers[id(model)] = Scorer(model)
    return s


def score(
    model: Model,
    answers: Mapping[str, Answer],
    validation: Mapping[str, Any] | None = None,
    *,
    area_details: bool = False,
) -> ScoreResult:
    """Score typed answers.

    Raises:
        AnswerFileError: an unknown question, an option the question lacks, a combination
            the question does not allow, or a bad validation value.
    """
    s = scorer_for(model)
    choices, certain = s.from_answers(answers)
    return s.result(choices, certain, s.validation_values(validation), area_details=area_details)


def score_document(model: Model, doc: Any, *, area_details: bool = False) -> ScoreResult:
    """Score one answer document (the JSON of interfaces.md, "Answer file").

    Raises:
        AnswerFileError: the document does not follow the format, names another model,
            or holds an answer the model does not allow.
    """
    if type(doc) is not dict:
        raise AnswerFileError("the answer document must be a JSON object")
    model_id = doc.get("model", model.id)
    if model_id != model.id:
        raise AnswerFileError(f"the answers are for model {model_id!r}, not {model.id!r}")
    answers = doc.get("answers", {})
    if type(answers) is not dict:
        raise AnswerFileError("'answers' must be an object of question ids")
    validation = doc.get("validation")
    if validation is not None and type(validation) is not dict:
        raise AnswerFileError("'validation' must be an object of validation question ids")
    s = scorer_for(model)
    choices, certain = s.from_document(answers)
    return s.result(choices, certain, s.validation_values(validation), area_details=area_details)


def answers_from_document(model: Model, doc: Mapping[str, Any]) -> dict[str, Answer]:
    """Typed answers from an answer document, checked as :func:`score_document` does."""
    s = scorer_for(model)
    choices, certain = s.from_document(doc.get("answers", {}))
    return {
        s.ids[i]: Answer(ch.options, bool(certain[i]))
        for i, ch in enumerate(choices)
        if certain[i] is not None
    }
