"""The chat's HTML parts, rendered once per distinct input and kept in bounded caches.

The page renders the question on screen, the status line and the sidebar (progress and
the index of every question); the WebSocket sends them again after every turn, with the
new transcript entries (the person's line, the bot's replies). Most of what they show is
the same for many people at many moments (the open question 2.3 in English, the index
line of 1.4 answered "a b säker", the reply "Registrerat: ..."), so each part is rendered
by its Jinja template once per distinct input and kept in a cache shared by all sessions.
Within the index each question's line is its own part: an answer re-renders one line, not
its section.

What is particular to one page (the response's id, the CSRF token, the entry's number,
names) goes in afterwards: a part is rendered with markers (``<@rid@>``) in place of
those values and kept as a :class:`Stencil`, whose holes are filled by joining strings.
A marker starts with ``<``, which escaped text never contains, and filled-in values are
never scanned again.

A cache key holds everything its template reads (the templates get exactly those values,
under ``StrictUndefined``, so a template that starts reading something else fails instead
of going stale).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from bot.i18n import gettext
from bot.replies_text import STATUS_NAMES
from bot.web import view
from conversations.parsing import example_line
from conversations.questionnaire import Model
from conversations.replies import Invalid, Recorded, Reply, Skipped, ValueRecorded
from conversations.state import ConversationState

LIMIT = 20_000  # entries per cache; a part is a few kB at most
_MARKER = re.compile(r"<@(\w+)@>")


def hole(name: str) -> Markup:
    """The marker of a value filled in later (Markup: the template must not escape it)."""
    return Markup(f"<@{name}@>")


class Stencil:
    """Rendered HTML with holes: literal pieces, and the names of the values between them."""

    __slots__ = ("names", "only", "pieces")

    def __init__(self, html: str) -> None:
        split = _MARKER.split(html)
        self.pieces: tuple[str, ...] = tuple(split[0::2])
        self.names: tuple[str, ...] = tuple(split[1::2])
        # every hole the same value (e.g. the response id in links): filled by one join
        self.only: str | None = self.names[0] if len(set(self.names)) == 1 else None

    def fill(self, values: dict[str, str]) -> str:
        if self.only is not None:
            return values[self.only].join(self.pieces)
        if not self.names:
            return self.pieces[0]
        out: list[str] = [""] * (2 * len(self.names) + 1)
        out[0::2] = self.pieces
        out[1::2] = [values[name] for name in self.names]
        return "".join(out)


class _Lru:
    """A bounded map of stencils; when full, the oldest entry goes first.

    (A hit does not move its entry: that would hash the key a second time, and the keys
    are tuples whose hashes Python does not keep. Entries are a few kB; a dropped one that is
    still in use is rendered again.)"""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._items: dict[Any, Stencil] = {}

    def get(self, key: Any, make: Callable[[], str]) -> Stencil:
        stencil = self._items.get(key)
        if stencil is None:
            stencil = self._items[key] = Stencil(make())
            if len(self._items) > self.limit:
                del self._items[next(iter(self._items))]
        return stencil


class Parts:
    """The caches of one application (one model, one template environment)."""

    def __init__(self, env: jinja2.Environment, model: Model) -> None:
        self.env = env
        self.model = model
        self.questions = _Lru()
        self.sections = _Lru()
        self.items = _Lru()
        self.sidebars = _Lru(10)
        self.progresses = _Lru(2_000)
        self.statuses = _Lru(2_000)
        self.entries = _Lru()
        self.replies = _Lru()
        self.frames = _Lru(100)
        self.index_questions = tuple(q for section in model.sections for q in section.questions)  # in order
        # which of them are level-grounding questions (counted as answered), in the same order
        self.grounding = tuple(model.question(q) is not None for q in self.index_questions)
        # the section of each, in the same order; where each section's questions start and end
        self.section_at = tuple(i for i, section in enumerate(model.sections) for _ in section.questions)
        ends = tuple(itertools.accumulate(len(section.questions) for section in model.sections))
        self.spans = tuple(zip((0, *ends[:-1]), ends, strict=True))
        self.position = {q: i for i, q in enumerate(self.index_questions)}

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context)


PARTS = web.AppKey("chat_parts", Parts)


def parts_of(app: web.Application) -> Parts:
    return app[PARTS]  # set up by bot.app.create_app


# --- the question, the status line, the sidebar ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page shows of a response right now.

    The sidebar is its progress part and the index's sections; a page gets it whole
    (:attr:`sidebar`), the WebSocket sends only the parts that changed.
    """

    qid: str | None  # the question on screen (None: all questions done)
    question: Markup
    status: Markup
    progress: str  # the sidebar's progress part: counts, klar / skicka in
    sections: tuple[str, ...]  # the question index, one part per section
    sidebar_frame: Stencil

    @property
    def sidebar(self) -> Markup:
        index = "".join([f"{html}\n" for html in self.sections])
        return Markup(self.sidebar_frame.fill({"progress": self.progress, "index": index}))


@dataclass(frozen=True, slots=True)
class Viewer:
    """What of the page depends on who looks (and in which language)."""

    lang: str
    rid: int
    csrf: str
    can_answer: bool
    is_coordinator: bool
    read_only_reason: str


@dataclass(slots=True)
class IndexMemo:
    """A page's question index as last rendered: for which language and response, with which
    question open, from which answer records (in index order), each question's line and each
    section's HTML, and how many level-grounding questions those records answer."""

    head: tuple[str, str] = ("", "")
    qid: str | None = None
    records: tuple[Any, ...] = ()
    lines: list[str] = field(default_factory=list)
    sections: tuple[str, ...] = ()
    answered: int = 0


def shown(
    parts: Parts,
    viewer: Viewer,
    state: ConversationState,
    deadline: date,
    qid: str | None,
    q_error: str,
    memo: IndexMemo | None = None,
) -> Shown:
    """The question ``qid`` (or "all done", when ``qid`` is None), status and sidebar.

    ``memo`` keeps a page's index sections as last sent, to reuse those that did not change.
    """
    model = parts.model
    lang = viewer.lang
    rid = {"rid": str(viewer.rid)}
    memo = IndexMemo() if memo is None else memo
    sections = index_sections(parts, lang, state, qid, rid, memo)
    answered = memo.answered  # (counted as the index compared the answers)
    total = len(model.questions)
    status = state.status

    rec = state.answers.get(qid) if qid else None
    answer = None if rec is None else (rec.skipped, rec.options, rec.certain, rec.comment, rec.value)
    all_answered = answered == total if qid is None else None

    def question() -> str:
        q_obj = model.any_question(qid) if qid else None
        return parts.render(
            "_question.html.j2",
            {
                "lang": lang,
                "q": view.question_view(model, qid, state, lang) if qid else None,
                "q_error": q_error,
                "example": example_line(q_obj, lang) if q_obj is not None else "1.1 a c säker",
                "can_answer": viewer.can_answer,
                "progress": {"all_answered": all_answered},
                "rid": hole("rid"),
                "csrf": hole("csrf"),
            },
        )

    question_key = (lang, qid, answer, q_error, viewer.can_answer, all_answered)
    question_html = parts.questions.get(question_key, question).fill({"rid": rid["rid"], "csrf": viewer.csrf})

    report = status in ("completed", "submitted", "closed")

    def status_line() -> str:
        return parts.render(
            "_status.html.j2",
            {
                "lang": lang,
                "status": status,
                "status_name": lambda s: gettext(lang, STATUS_NAMES.get(s) or s),
                "progress": {"answered": answered, "total": total},
                "deadline": deadline,
                "read_only_reason": viewer.read_only_reason,
                "report_url": Markup("/svar/<@rid@>/rapport") if report else None,
            },
        )

    status_key = (lang, status, answered, total, deadline, viewer.read_only_reason, report)
    status_html = parts.statuses.get(status_key, status_line).fill(rid)

    def progress_part() -> str:
        return parts.render(
            "_progress.html.j2",
            {
                "lang": lang,
                "progress": {"answered": answered, "total": total},
                "is_coordinator": viewer.is_coordinator,
                "status": status,
                "rid": hole("rid"),
            },
        )

    def sidebar() -> str:
        return parts.render(
            "_sidebar.html.j2", {"lang": lang, "progress": hole("progress"), "index": hole("index")}
        )

    progress_key = (lang, answered, total, viewer.is_coordinator, status)
    return Shown(
        qid,
        Markup(question_html),
        Markup(status_html),
        parts.progresses.get(progress_key, progress_part).fill(rid),
        sections,
        parts.sidebars.get(lang, sidebar),
    )


def index_sections(
    parts: Parts,
    lang: str,
    state: ConversationState,
    qid: str | None,
    rid: dict[str, str],
    memo: IndexMemo,
) -> tuple[str, ...]:
    """The question index, section by section. A question's line is rendered again only when
    its answer, or whether it is the open one, changed since the page last got it
    (``memo``), and a section only when one of its lines did; unchanged answer records are
    the same objects from turn to turn, so the records that changed are found by identity,
    without a loop over the index in Python. ``memo.answered`` is brought up to date on the
    way: the level-grounding questions answered (skips do not count), as
    ``Progress.answered_count``."""
    records = tuple(map(state.answers.get, parts.index_questions))
    head = (lang, rid["rid"])
    count = len(parts.model.sections)
    changed: set[int] = set()
    if memo.head != head or len(memo.sections) != count:  # a new page: every line, counted afresh
        memo.records, memo.sections, memo.answered = (None,) * len(records), ("",) * count, 0
        memo.lines = [""] * len(records)
        changed.update(range(len(records)))
    old = memo.records
    answered = memo.answered
    for i in itertools.compress(itertools.count(), map(operator.is_not, records, old)):
        changed.add(i)  # (an equal record that is a new object: its line, from the cache, again)
        if parts.grounding[i]:
            a, b = records[i], old[i]
            answered += (a is not None and a.answered) - (b is not None and b.answered)
    memo.answered = answered
    if qid != memo.qid:
        changed.update(parts.position[q] for q in (qid, memo.qid) if q in parts.position)
    model = parts.model
    lines = memo.lines
    for i in changed:
        q, rec = parts.index_questions[i], records[i]

        def line(q: str = q, rec: Any = rec) -> str:
            item = view.index_item(model, q, rec, lang, q == qid)
            return parts.render("_index_item.html.j2", {"lang": lang, "rid": hole("rid"), "item": item})

        lines[i] = parts.items.get((lang, q, view.index_key(rec), q == qid), line).fill(rid)
    sections = list(memo.sections)
    for index in {parts.section_at[i] for i in changed}:
        sections[index] = section_html(parts, lang, index, records, lines, qid)
    memo.head, memo.qid, memo.records, memo.sections = head, qid, records, tuple(sections)
    return memo.sections


def section_html(
    parts: Parts, lang: str, index: int, records: tuple[Any, ...], lines: list[str], qid: str | None
) -> str:
    """One section of the question index: its heading, then its questions' lines."""
    section = parts.model.sections[index]
    start, end = parts.spans[index]
    answered = sum(1 for rec in records[start:end] if rec is not None and not rec.skipped)
    is_open = qid in section.questions

    def frame() -> str:
        head = {
            "number": index + 1,
            "title": section.title.get(lang),
            "answered": answered,
            "total": len(section.questions),
            "open": is_open,
        }
        return parts.render("_index_section.html.j2", {"lang": lang, "s": head, "items": hole("items")})

    return parts.sections.get((lang, index, is_open, answered), frame).fill(
        {"items": "".join(lines[start:end])}
    )


# --- transcript entries -------------------------------------------------------------------------------


def entry_html(
    parts: Parts, lang: str, entry_id: int, role: str, who: str, when: str, iso: str, body: str
) -> str:
    """One message of the transcript (``body`` is HTML)."""

    def frame() -> str:
        return parts.render(
            "_entry.html.j2",
            {
                "lang": lang,
                "id": hole("id"),
                "role": role,
                "who": who,
                "when": hole("when") if when else "",
                "iso": hole("iso"),
                "body": hole("body"),
            },
        )

    values = {"id": str(entry_id), "when": str(escape(when)), "iso": str(escape(iso)), "body": body}
    return parts.entries.get((lang, role, who, bool(when)), frame).fill(values)


@dataclass(frozen=True, slots=True)
class _Previous:
    """What the replies show of the answer a new one replaces: who gave it."""

    by: str


_FIELDS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _fields_of(reply: Reply) -> tuple[Any, ...]:
    """A reply's fields as a plain tuple, but for the answer it replaces (``previous``: the
    cache key says only whether there was one, and whether it says who gave it). A tuple
    hashes and compares in C; a dataclass does so in Python, field by field."""
    get = _FIELDS.get(type(reply))
    if get is None:
        names = [f.name for f in dataclasses.fields(reply) if f.name != "previous"]
        many = operator.attrgetter(*names) if len(names) > 1 else None
        get = _FIELDS[type(reply)] = many or (lambda r, names=names: tuple(getattr(r, n) for n in names))
    return get(reply)


_GROUPS: dict[type, str] = {
    Recorded: "recorded",
    ValueRecorded: "recorded",
    Skipped: "recorded",
    Invalid: "invalid",
}


def _qtext(model: Model, lang: str, qid: str) -> Markup:
    """A question as the replies name it: its number in bold, then its text."""
    q = model.any_question(qid)
    head = Markup("<strong>%s</strong>") % qid
    return head + " " + q.text.get(lang) if q is not None else head


def replies_html(
    parts: Parts, lang: str, replies: Sequence[Reply], helpers: Callable[[], dict[str, Any]]
) -> str:
    """The bot's replies to one turn; ``helpers`` gives the templates' functions.

    Each reply is rendered once (``_reply.html.j2``) and the turn's replies are put
    together in ``_replies.html.j2``: what was recorded, what was refused, then the rest.
    Who gave a replaced answer is filled in afterwards, so the same reply to different
    people is one entry of the cache.
    """
    names: dict[str, str] = {}
    groups: dict[str, list[str]] = {"recorded": [], "invalid": [], "other": []}
    context: dict[str, Any] | None = None
    for r in replies:
        previous: _Previous | None = None
        if isinstance(r, Recorded | ValueRecorded | Skipped) and r.previous is not None:
            by = r.previous.by
            if by:
                name = f"by{len(names)}"
                names[name] = str(escape(by))
                by = hole(name)
            previous = _Previous(by)
        group = _GROUPS.get(type(r), "other")

        def render(r: Reply = r, group: str = group, previous: _Previous | None = previous) -> str:
            nonlocal context
            if context is None:
                context = {**helpers(), "lang": lang, "qtext": functools.partial(_qtext, parts.model, lang)}
            if previous is not None:
                r = dataclasses.replace(r, previous=previous)  # type: ignore[arg-type]
            return parts.render("_reply.html.j2", {**context, "r": r, "group": group})

        try:
            key = (lang, group, type(r), _fields_of(r), None if previous is None else bool(previous.by))
            stencil = parts.replies.get(key, render)
        except TypeError:  # a reply that holds a score (dicts) cannot be a key: rare, rendered each time
            groups[group].append(render())
            continue
        groups[group].append(stencil.fill(names))

    def frame() -> str:
        return parts.render(
            "_replies.html.j2",
            {
                "lang": lang,
                "recorded": hole("recorded") if groups["recorded"] else "",
                "invalid": hole("invalid") if groups["invalid"] else "",
                "others": hole("others"),
            },
        )

    shape = (lang, bool(groups["recorded"]), bool(groups["invalid"]))
    return parts.frames.get(shape, frame).fill(
        {
            "recorded": "".join(groups["recorded"]),
            "invalid": "".join(groups["invalid"]),
            "others": "".join(groups["other"]),
        }
    )
