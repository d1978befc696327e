"""The state of one conversation, the turn that changes it, and the status table.

A response's conversation is one :class:`ConversationState`: its status, the current
answer to every question answered so far (with who, how and when), the section it is at
and the sections already sent. A :class:`Turn` is one message from one person through one
channel. The engine (``engine.py``) takes a state and a turn and returns a new state.

Status transitions live in :data:`TRANSITIONS` and nowhere else::

    invited ──answer──▶ in_progress ──all answered / klar──▶ completed ──skicka in──▶ submitted
        └──────────────────────────────klar──────────────────────▲          │
    any ──close (deadline, administrator)──▶ closed          withdraw ◀────┘ (back to completed)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["invited", "in_progress", "completed", "submitted", "closed"]
Channel = Literal["mail", "web", "cli"]
Event = Literal["answer", "complete", "submit", "withdraw", "close", "reopen"]

# status -> event -> new status; an event missing here is not allowed in that status
TRANSITIONS: Mapping[Status, Mapping[Event, Status]] = {
    "invited": {"answer": "in_progress", "complete": "completed", "close": "closed"},
    "in_progress": {"answer": "in_progress", "complete": "completed", "close": "closed"},
    "completed": {"answer": "completed", "complete": "completed", "submit": "submitted", "close": "closed"},
    "submitted": {"withdraw": "completed", "close": "closed"},
    "closed": {"reopen": "in_progress"},
}


def transition(status: Status, event: Event) -> Status | None:
    """The status after ``event``, or None when the event is not allowed in ``status``."""
    return TRANSITIONS[status].get(event)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """The current answer to one question, as stored."""

    options: tuple[str, ...] = ()  # level-grounding questions: letters in display order
    certain: bool | None = None  # None for validation questions and skips
    comment: str | None = None
    value: str | None = None  # validation questions: the normalised value
    skipped: bool = False  # left unanswered on purpose
    by: str = ""
    channel: str = ""
    at: datetime | None = None
    revision: int = 1

    @property
    def answered(self) -> bool:
        return not self.skipped


@dataclass(frozen=True, slots=True)
class Actor:
    """Who speaks in a turn, and what they may do."""

    email: str
    coordinator: bool = False
    respondent: bool = False
    manager: bool = False
    administrator: bool = False
    language: str = "sv"

    @property
    def may_answer(self) -> bool:
        """Coordinators and respondents answer; managers and administrators only read."""
        return (self.coordinator or self.respondent) and not self.administrator


@dataclass(frozen=True, slots=True)
class Turn:
    """One message: free text in the reply format, and/or structured items.

    ``items`` are choices made on a form (the web chat's buttons and checkboxes), already
    in the parser's item types (``AnswerLine``, ``SkipLine``, ``ValidationLine``,
    ``CommandLine``); the engine checks them exactly as it checks typed lines.
    ``current_question`` is the question on screen in the web chat, which a typed line
    without an id answers.
    """

    actor: Actor
    channel: Channel
    at: datetime
    text: str = ""
    current_question: str | None = None
    items: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationState:
    status: Status = "invited"
    answers: Mapping[str, AnswerRecord] = field(default_factory=dict)
    section: int = 0  # index of the section the conversation is at
    sections_sent: frozenset[str] = frozenset()
    version: int = 0
    level: int | None = None  # the level of the last score, if scored
    locked: bool = False  # the cycle is closed: nothing may change (set by the shell)
