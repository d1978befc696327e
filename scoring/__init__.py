"""Pure scoring of the follow-up model: levels, area levels, next-level facts, indications.

No I/O and no async: values in, values out. See ``shared/spec/scoring-rules.md``.
"""

from __future__ import annotations

from scoring.answers import Answer, AnswerProblem, answer_points, check_options
from scoring.compare import Comparison, compare
from scoring.result import NextLevel, ScoreResult
from scoring.score import AnswerFileError, Scorer, points_required, score, score_document, scorer_for

__all__ = [
    "Answer",
    "AnswerFileError",
    "AnswerProblem",
    "Comparison",
    "NextLevel",
    "ScoreResult",
    "Scorer",
    "answer_points",
    "check_options",
    "compare",
    "points_required",
    "score",
    "score_document",
    "scorer_for",
]
