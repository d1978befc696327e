"""Comparison of a scored response with the organisation's earlier scored response.

Under the same model id and version, the level, total points, each area's level and each
validation key figure are compared. Across model versions only questions whose id and
scoring are unchanged can be compared; the result says so (``same_model`` is False and
``level_change`` is None) so that no one reads a change of model as a change of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conversations.questionnaire import Model, Question
from scoring.result import ScoreResult


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: Any
    after: Any

    @property
    def delta(self) -> float | None:
        try:
            return float(self.after) - float(self.before)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Comparison:
    same_model: bool
    level_change: Change | None
    points_change: Change | None
    areas: tuple[Change, ...]
    validation: tuple[Change, ...]
    questions: tuple[Change, ...]  # points per comparable question
    comparable_questions: tuple[str, ...]
    note: str  # short English note on what could be compared

    def to_dict(self) -> dict[str, Any]:
        def ch(c: Change | None) -> dict[str, Any] | None:
            return None if c is None else {"before": c.before, "after": c.after, "delta": c.delta}

        return {
            "same_model": self.same_model,
            "level": ch(self.level_change),
            "points": ch(self.points_change),
            "areas": {c.key: ch(c) for c in self.areas},
            "validation": {c.key: ch(c) for c in self.validation},
            "questions": {c.key: ch(c) for c in self.questions},
            "comparable_questions": list(self.comparable_questions),
            "note": self.note,
        }


def question_signature(q: Question) -> tuple[Any, ...]:
    """What must be unchanged for a question to be compared across model versions."""
    return (q.level, q.scoring, tuple((o.id, o.points, o.exclusive) for o in q.options))


def compare(model_now: Model, now: ScoreResult, model_before: Model, before: ScoreResult) -> Comparison:
    """Compare ``now`` with ``before`` (each scored under its own model)."""
    same = model_now.id == model_before.id and model_now.version == model_before.version
    comparable = tuple(
        q.id
        for q in model_now.questions
        if (old := model_before.question(q.id)) is not None
        and question_signature(old) == question_signature(q)
    )
    questions = tuple(
        Change(qid, before.questions[qid].points, now.questions[qid].points)
        for qid in comparable
        if qid in before.questions
        and qid in now.questions
        and before.questions[qid].points != now.questions[qid].points
    )
    validation = tuple(
        Change(vid, before.validation.get(vid), now.validation.get(vid))
        for vid in sorted(set(now.validation) | set(before.validation))
        if model_before.validation_question(vid) is not None
        and model_now.validation_question(vid) is not None
    )
    if same:
        return Comparison(
            same_model=True,
            level_change=Change("level", before.level, now.level),
            points_change=Change("points", before.points, now.points),
            areas=tuple(Change(a, before.areas.get(a), now.areas[a]) for a in now.areas if a in before.areas),
            validation=validation,
            questions=questions,
            comparable_questions=comparable,
            note="same model version: every figure is comparable",
        )
    return Comparison(
        same_model=False,
        level_change=None,
        points_change=None,
        areas=(),
        validation=validation,
        questions=questions,
        comparable_questions=comparable,
        note=(
            f"model changed from {model_before.id} v{model_before.version} to {model_now.id} "
            f"v{model_now.version}: only the {len(comparable)} questions with unchanged id and "
            "scoring are compared; levels are not compared"
        ),
    )
