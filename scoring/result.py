"""The score result: what the scoring engine returns, and its JSON form.

Every figure that feedback, mails, the web page or the national analysis shows comes from
these values; templates never compute. ``to_dict`` gives the JSON of ``interfaces.md``
("Score result") with some additional keys, which the interface allows.

The per-question parts are kept as parallel tuples (ids, points, certainty) because a
result is built for every answer set of a national batch; :attr:`ScoreResult.questions`
and :attr:`NextLevel.cheapest_path` give them as named values when wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

RequirementStatus = Literal["met", "not_met", "unknown"]


class QuestionScore(NamedTuple):
    points: int
    certain: bool | None  # None: unanswered (neither certain nor uncertain)

    @property
    def answered(self) -> bool:
        return self.certain is not None


class Shortfall(NamedTuple):
    """A question below the minimum of a level: its points now and the points it needs."""

    question: str
    points: int
    needed: int

    @property
    def missing(self) -> int:
        return self.needed - self.points


class Step(NamedTuple):
    """One way up on the cheapest path: moving a question up one answer option."""

    question: str
    points: int  # points now
    step: int  # points gained by moving up one option
    headroom: int  # points left up to the question's maximum


@dataclass(frozen=True, slots=True)
class NextLevel:
    """Quick facts for the next level N = L + 1 (scoring-rules.md)."""

    level: int
    points_required: int
    points_now: int
    points_missing: int
    below_minimum: tuple[Shortfall, ...]
    mandatory_points: int
    movable_missing: int
    certain_required: int
    certain_now: int
    certain_missing: int
    uncertain: tuple[str, ...]  # answered but uncertain in Q(N): the cheapest certainty
    unanswered: tuple[str, ...]  # unanswered in Q(N)
    path: tuple[tuple[str, int, int, int], ...]  # (question, points, step, headroom), cheapest first

    @property
    def cheapest_points(self) -> int:
        """The smallest total point increase that reaches N."""
        return self.mandatory_points + self.movable_missing

    @property
    def cheapest_path(self) -> tuple[Step, ...]:
        """Questions with headroom, ordered by the points one answer option up costs."""
        return tuple(Step(*s) for s in self.path)


@dataclass(frozen=True, slots=True)
class Indication:
    """The MSBFS 2020:6 indication for one requirement (never a legal assessment)."""

    id: str
    reference: str
    status: RequirementStatus
    failing: tuple[str, ...] = ()  # answered questions whose condition fails
    missing: tuple[str, ...] = ()  # unanswered questions the requirement needs


class FlaggedAnswer(NamedTuple):
    question: str
    option: str
    flag: str  # "in_progress" or "recent"
    points: int
    projected_points: int


@dataclass(frozen=True, slots=True)
class ForwardLooking:
    projected_level: int
    items: tuple[FlaggedAnswer, ...]


@dataclass(frozen=True, slots=True)
class Certainty:
    """How much of the reached level rests on uncertain answers."""

    level: int
    answered: int  # answered questions in Q(level)
    uncertain: int
    uncertain_questions: tuple[str, ...]  # to document first: lowest level first


@dataclass(frozen=True, slots=True)
class ScoreResult:
    model: str
    model_version: str
    level: int
    points: int
    certain: int
    answered: int
    areas: dict[str, int]
    area_points: dict[str, int]
    ids: tuple[str, ...]  # level-grounding questions in level order
    question_points: tuple[int, ...]
    question_certain: tuple[bool | None, ...]
    next_level: NextLevel | None
    msbfs: tuple[Indication, ...]
    forward_looking: ForwardLooking | None
    certainty: Certainty
    validation: dict[str, str] = field(default_factory=dict)
    area_next: dict[str, NextLevel | None] = field(default_factory=dict)

    @property
    def questions(self) -> dict[str, QuestionScore]:
        """Points and certainty per question id."""
        return {
            qid: QuestionScore(p, c)
            for qid, p, c in zip(self.ids, self.question_points, self.question_certain, strict=True)
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (interfaces.md, "Score result").

        The JSON keeps to the interface's keys (plus ``model_version`` and ``validation``;
        an indication's ``requirement`` is the requirement's id in the model). The richer
        facts (cheapest path, shortfalls, certainty of the level, area next levels) are in
        the typed values, for feedback and reports.
        """
        out: dict[str, Any] = {
            "model": self.model,
            "model_version": self.model_version,
            "level": self.level,
            "points": self.points,
            "certain": self.certain,
            "answered": self.answered,
            "areas": self.areas,
            "questions": {
                qid: {"points": p, "certain": c}
                for qid, p, c in zip(self.ids, self.question_points, self.question_certain, strict=True)
            },
            "msbfs": [{"requirement": i.id, "status": i.status} for i in self.msbfs],
            "validation": self.validation,
        }
        if self.next_level is not None:
            n = self.next_level
            out["next_level"] = {
                "level": n.level,
                "points_required": n.points_required,
                "points_missing": n.points_missing,
                "mandatory_points": n.mandatory_points,
                "movable_missing": n.movable_missing,
                "below_minimum": [s.question for s in n.below_minimum],
                "certain_required": n.certain_required,
                "certain_missing": n.certain_missing,
            }
        if self.forward_looking is not None:
            out["forward_looking"] = {
                "projected_level": self.forward_looking.projected_level,
                "items": list(dict.fromkeys(f.question for f in self.forward_looking.items)),
            }
        return out
