"""The chat transcript of one browser session on one response, kept in memory.

A transcript holds the messages shown in the chat's log: the person's own turns, the
bot's replies, and answers that arrived through another channel (mail, another person in
the chat, the command line) while the page was open. Entries are rendered HTML, made
once. ``cursor`` is the newest answer revision the transcript has shown, so that answers
stored by others are told once.

Nothing here is the truth about a response: the page always renders the question,
progress and answers from the database. A transcript that is lost (a restart, an old
session) starts again with a greeting and the most recent answers; so the chat resumes
anywhere. Memory is bounded: a transcript keeps its last :data:`MAX_ENTRIES` entries and
the store its :data:`MAX_TRANSCRIPTS` most recently used transcripts.

A transcript keeps each entry as a plain tuple of an int and two strings, which Python's
cycle collector stops tracking after its first look: tens of thousands of kept entries would
otherwise make every full collection (a pause of the whole chat) tens of milliseconds longer.
:class:`Entry` objects are made when entries are read.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup

MAX_ENTRIES = 60
MAX_TRANSCRIPTS = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    role: str  # "me" | "bot" | "other"
    html: Markup


@dataclass(slots=True)
class Transcript:
    log: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_ENTRIES))
    next_id: int = 1
    cursor: int = 0  # id of the newest answer revision shown
    seen: int = -1  # the response's version as of which every answer revision is shown
    started: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # question -> why its last answer was refused
    own: deque[datetime] = field(default_factory=lambda: deque(maxlen=500))  # times of this session's turns
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, role: str, html: Markup) -> Entry:
        entry = Entry(self.next_id, role, html)
        self.next_id += 1
        self.log.append((entry.id, role, str.__str__(html)))  # a plain str: not tracked
        return entry

    @property
    def entries(self) -> list[Entry]:
        """The entries kept, oldest first."""
        return self.after(0)

    def after(self, entry_id: int) -> list[Entry]:
        """The entries newer than ``entry_id``, oldest first."""
        return [Entry(i, role, Markup(html)) for i, role, html in self._newer(entry_id)]

    def html_after(self, entry_id: int) -> tuple[int, list[str]]:
        """The newest entry's id and the HTML of the entries newer than ``entry_id``, oldest
        first (``entry_id`` again when there are none)."""
        newer = self._newer(entry_id)
        return (newer[-1][0] if newer else entry_id), [html for _, _, html in newer]

    def _newer(self, entry_id: int) -> list[tuple[int, str, str]]:
        """The kept entries newer than ``entry_id`` (ids grow: the newest are at the end)."""
        newer = []
        for entry in reversed(self.log):
            if entry[0] <= entry_id:
                break
            newer.append(entry)
        newer.reverse()
        return newer

    @property
    def last_id(self) -> int:
        return self.log[-1][0] if self.log else 0


class Transcripts:
    """Transcripts by (session, response), least recently used dropped first."""

    def __init__(self, limit: int = MAX_TRANSCRIPTS) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, int], Transcript] = OrderedDict()

    def get(self, session: str, response_id: int) -> Transcript:
        key = (session, response_id)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = Transcript()
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return item

    def drop_session(self, session: str) -> None:
        for key in [k for k in self._items if k[0] == session]:
            del self._items[key]
