"""Answers as values, and the rules for what one answer may be and what it earns.

An :class:`Answer` is the options chosen for one level-grounding question and the
certainty flag. :func:`check_options` says whether a choice of options is allowed by the
question (known letters, no exclusive option with another, adjacent ranges on scale
questions, no letter twice) and returns an :class:`AnswerProblem` naming the question and
the option when it is not. :func:`answer_points` gives the points of an allowed choice.
Both the scoring engine and the dialogue engine use these, so the rules live only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from conversations.questionnaire import Question, ValidationQuestion

ProblemKind = Literal[
    "unknown_question",
    "unknown_option",
    "no_options",
    "duplicate_option",
    "exclusive_combined",
    "not_adjacent",
    "bad_certainty",
    "bad_value",
]


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one level-grounding question."""

    options: tuple[str, ...]
    certain: bool


@dataclass(frozen=True, slots=True)
class AnswerProblem:
    """Why an answer cannot be used: which question, which option, what kind of mistake."""

    question: str
    kind: ProblemKind
    option: str | None = None
    other: str | None = None

    def message(self) -> str:
        """A one-line English explanation, for command-line tools and logs."""
        q, o = self.question, self.option
        match self.kind:
            case "unknown_question":
                return f"question {q}: no such question in this model"
            case "unknown_option":
                return f"question {q}: option {o!r} does not exist"
            case "no_options":
                return f"question {q}: no option chosen"
            case "duplicate_option":
                return f"question {q}: option {o!r} is given twice"
            case "exclusive_combined":
                return f"question {q}: option {o!r} cannot be combined with other options" + (
                    f" (here with {self.other!r})" if self.other else ""
                )
            case "not_adjacent":
                return (
                    f"question {q}: options {o!r} and {self.other!r} are not adjacent; "
                    "a range on this question must be options next to each other"
                )
            case "bad_certainty":
                return f"question {q}: certain must be true or false"
            case "bad_value":
                return f"question {q}: value {o!r} is not valid here"
        return f"question {q}: invalid answer"


def check_options(question: Question, options: Sequence[str]) -> AnswerProblem | None:
    """Check a choice of option letters against the question's rules.

    Returns:
        None when the choice is allowed, otherwise the first problem found.
    """
    qid = question.id
    if not options:
        return AnswerProblem(qid, "no_options")
    index = {o.id: i for i, o in enumerate(question.options)}
    seen: set[str] = set()
    for letter in options:
        if letter not in index:
            return AnswerProblem(qid, "unknown_option", letter)
        if letter in seen:
            return AnswerProblem(qid, "duplicate_option", letter)
        seen.add(letter)
    if len(options) > 1:
        for letter in options:
            if question.options[index[letter]].exclusive:
                other = next(x for x in options if x != letter)
                return AnswerProblem(qid, "exclusive_combined", letter, other)
        if question.scoring == "scale":
            positions = sorted(index[x] for x in options)
            for a, b in pairwise(positions):
                if b != a + 1:
                    return AnswerProblem(qid, "not_adjacent", question.options[a].id, question.options[b].id)
    return None


def answer_points(question: Question, options: Iterable[str], *, cap: int = 5) -> int:
    """Points of an allowed choice: summed (capped) for ``count``, lowest for ``scale``."""
    values = [o.points for o in question.options if o.id in set(options)]
    if not values:
        return 0
    if question.scoring == "scale":
        return min(values)
    return min(sum(values), cap)


def check_validation_value(vq: ValidationQuestion, value: object) -> tuple[str | None, str | None]:
    """Normalise a validation answer.

    Returns:
        ``(normalised, None)`` for a usable value — a number as text without unit, a
        percentage 0–100, or an option letter — and ``(None, reason)`` otherwise.
    """
    if vq.kind == "choice":
        letter = str(value).strip().lower().rstrip(").")
        if any(o.id == letter for o in vq.options):
            return letter, None
        letters = ", ".join(o.id for o in vq.options)
        return None, f"choose one of {letters}"
    text = str(value).strip().replace("\u00a0", " ").replace(" ", "")
    text = text.removesuffix("%").removesuffix("procent").replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None, "a number is needed" if vq.kind == "number" else "a percentage 0–100 is needed"
    if number < 0 or (vq.kind == "percent" and number > 100):
        return None, "a percentage 0–100 is needed" if vq.kind == "percent" else "must be 0 or more"
    normalised = str(int(number)) if number == int(number) else f"{number:g}"
    return normalised, None
