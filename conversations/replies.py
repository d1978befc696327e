"""What the engine says back: replies as data, never as HTML or mail.

Each channel renders these values its own way (mail templates, web chat templates, the
command line). A turn's replies come in a fixed order: what was recorded, what could not
be used, notices, then where the conversation goes next (section done, next section,
status, completed, submitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from conversations.state import AnswerRecord, Status
from scoring.result import ScoreResult


@dataclass(frozen=True, slots=True)
class Recorded:
    """An answer to a level-grounding question was recorded."""

    question: str
    options: tuple[str, ...]
    certain: bool
    certainty_given: bool  # False: not written, recorded as uncertain (the receipt says how to change it)
    comment: str | None
    source: str
    previous: AnswerRecord | None  # the answer it replaces, if any


@dataclass(frozen=True, slots=True)
class ValueRecorded:
    """A validation question's value (key figure) was recorded."""

    question: str
    value: str
    source: str
    previous: AnswerRecord | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A question was left unanswered on purpose."""

    question: str
    source: str
    previous: AnswerRecord | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that could not be used; nothing of it was recorded.

    ``kind`` is one of the parser's error kinds (``unknown_question``, ``unknown_option``,
    ``exclusive_combined``, ``not_adjacent``, …); ``example`` is a correct line for the
    question in the turn's language.
    """

    source: str
    question: str | None
    kind: str
    option: str | None
    other: str | None
    example: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth saying about a line that was used (e.g. answered twice in one turn)."""

    kind: str
    question: str
    source: str


NotAllowedReason = Literal[
    "read_only_role",  # a manager or administrator tried to answer
    "coordinator_only",  # klar / skicka in by someone who is not the coordinator
    "submitted",  # the response is submitted: withdraw it first
    "closed",  # the cycle's deadline has passed or the response was closed
    "not_completed",  # skicka in before the response is completed
    "not_submitted",  # withdraw a response that is not submitted
]


@dataclass(frozen=True, slots=True)
class NotAllowed:
    reason: NotAllowedReason
    source: str = ""


@dataclass(frozen=True, slots=True)
class SectionDone:
    section: str


@dataclass(frozen=True, slots=True)
class AskSection:
    """The conversation moves to this section: mail sends it, the chat shows it."""

    section: str
    index: int
    questions: tuple[str, ...]  # its questions that are still unanswered


@dataclass(frozen=True, slots=True)
class AskQuestion:
    """The next unanswered question (the web chat asks one at a time)."""

    question: str
    section: str


@dataclass(frozen=True, slots=True)
class SectionProgress:
    section: str
    answered: int
    skipped: int
    total: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    status: Status
    sections: tuple[SectionProgress, ...]
    answered: int  # level-grounding questions answered
    total: int  # level-grounding questions in the model
    remaining: tuple[str, ...]  # level-grounding questions without an answer (skipped ones included)


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class NothingUnderstood:
    """The turn held no answer, no command and no line that looked like one."""


@dataclass(frozen=True, slots=True)
class Completed:
    """The response was scored: every question answered, or the coordinator said klar."""

    reason: Literal["all_answered", "done"]
    result: ScoreResult
    unanswered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rescored:
    """A completed response changed; its score was computed again."""

    result: ScoreResult
    previous_level: int | None


@dataclass(frozen=True, slots=True)
class Submitted:
    result: ScoreResult


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A submitted response was taken back (before the deadline); it is completed again."""


@dataclass(frozen=True, slots=True)
class Paused:
    """The person asked for no more reminders."""

    email: str


Reply: TypeAlias = (
    Recorded
    | ValueRecorded
    | Skipped
    | Invalid
    | Note
    | NotAllowed
    | SectionDone
    | AskSection
    | AskQuestion
    | StatusReport
    | Help
    | NothingUnderstood
    | Completed
    | Rescored
    | Submitted
    | Withdrawn
    | Paused
)
