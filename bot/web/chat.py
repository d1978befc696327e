"""The web chat: one response's conversation in the browser, with and without JavaScript.

Every answer is a turn through :func:`bot.turn.handle_turn` (channel ``web``), the same
path as mail: a form's choices become structured items (``AnswerLine``, ``SkipLine``,
``ValidationLine``, ``CommandLine``) that the engine checks like typed lines, and a typed
reply goes in as text with the question on screen as ``current_question``.

Without JavaScript the page is plain HTML forms: a POST stores the turn and redirects
(PRG) to the chat, at the newest bot message. With JavaScript the same forms go over a
WebSocket, ``/svar/N/ws``, and the transcript, the question and the progress are
replaced in place; the socket also listens for turns from other channels
(:mod:`bot.events`) and shows them at once.

Who may do what: a contact sees only their own organisation's responses; coordinators
and respondents answer; managers read; ``klar`` and ``skicka in`` are the coordinator's;
an administrator reads any response and answers nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from markupsafe import Markup, escape
from sqlmodel import col, select

from bot import events
from bot.db.tables import Cycle, Organisation, Response, now
from bot.i18n import format_datetime, gettext
from bot.keys import DB, EFFECTS, MODEL, SETTINGS, SOCKETS, TRANSCRIPTS
from bot.replies_text import STATUS_NAMES, explain
from bot.turn import ResponseNotFound, TurnConflict, handle_turn
from bot.web import parts, view
from bot.web.auth import require_user
from bot.web.security import (
    Refused,
    check_csrf,
    checked_form,
    csrf_token,
    render,
    render_fragment,
    request_lang,
    same_origin,
)
from bot.web.sessions import User
from bot.web.transcript import Entry, Transcript
from conversations.engine import Step
from conversations.parsing import (
    AnswerLine,
    CommandLine,
    SkipLine,
    ValidationLine,
    format_answer,
)
from conversations.questionnaire import Model
from conversations.replies import AskQuestion, AskSection, Completed, Invalid, Reply, Submitted
from conversations.state import Actor, Turn

log = logging.getLogger(__name__)

CHANNELS = {"mail": "via mejl", "web": "i webbchatten", "cli": "via handläggare"}
HISTORY = 5  # answers shown when a transcript starts


# --- access -----------------------------------------------------------------------------------


def _response_id(request: web.Request) -> int:
    try:
        return int(request.match_info["rid"])
    except ValueError:
        raise Refused(404, "Det finns inget sådant svar.") from None


async def access(request: web.Request) -> tuple[User, view.Loaded]:
    """The signed-in user and the response of the URL, when the user may see it."""
    user = require_user(request)
    loaded = await view.load(request.app[DB], _response_id(request))
    if loaded is None:
        raise Refused(404, "Det finns inget sådant svar.")
    if not user.is_admin and loaded.response.organisation_id != user.organisation_id:
        raise Refused(
            403,
            "Det här svaret hör till en annan organisation än den du är inloggad för. Du ser bara din egen "
            "organisations svar.",
        )
    return user, loaded


def may_answer(user: User, loaded: view.Loaded) -> bool:
    return user.may_answer and loaded.state.status not in ("submitted", "closed")


def refuse_read_only(user: User) -> None:
    if user.is_admin:
        raise Refused(403, "Som administratör kan du läsa alla svar men inte svara eller ändra något.")
    if not user.may_answer:
        raise Refused(403, "Du kan läsa svaret men inte svara: bara samordnare och respondenter kan svara.")


# --- rendering ----------------------------------------------------------------------------------


def _level_name(model: Model, level: int, lang: str) -> str:
    if level == 0:
        return gettext(lang, "under nivå 1")
    return gettext(lang, "nivå %(n)s", n=level) + " – " + model.level(level).name.get(lang)


def _helpers(request: web.Request) -> dict[str, Any]:
    model = request.app[MODEL]
    lang = request_lang(request)

    def section_title(section_id: str) -> str:
        for s in model.sections:
            if s.id == section_id:
                return s.title.get(lang)
        return section_id

    return {
        "model": model,
        "explain": lambda e: explain(e, model, lang),
        "section_title": section_title,
        "level_name": lambda n: _level_name(model, n, lang),
        "status_name": lambda s: gettext(lang, STATUS_NAMES.get(s) or s),
        "authority": request.app[SETTINGS].authority_name,
    }


def _when(request: web.Request, at: datetime | None) -> str:
    if at is None:
        return ""
    return _stamp(at, request_lang(request), request.app[SETTINGS].timezone)[0]


@functools.lru_cache(maxsize=4096)
def _minute(minute: int, lang: str, tz: str) -> str:
    """A time (minutes since 1970) as the chat shows it; Babel's formatting is slow, minutes repeat."""
    return format_datetime(datetime.fromtimestamp(minute * 60, UTC), lang, tz=tz, fmt="short")


@functools.lru_cache(maxsize=256)
def _stamp(at: datetime, lang: str, tz: str) -> tuple[str, str]:
    """A message's time as the chat shows it, and in ISO 8601 (a turn's entries share one)."""
    return _minute(int(at.timestamp()) // 60, lang, tz), at.isoformat()


def add_entry(
    request: web.Request, transcript: Transcript, role: str, who: str, body: Markup, at: datetime | None
) -> Entry:
    lang = request_lang(request)
    when, iso = ("", "") if at is None else _stamp(at, lang, request.app[SETTINGS].timezone)
    html = parts.entry_html(parts.parts_of(request.app), lang, transcript.next_id, role, who, when, iso, body)
    return transcript.add(role, Markup(html))


def _replies_html(request: web.Request, replies: tuple[Reply, ...] | list[Reply]) -> Markup:
    html = parts.replies_html(
        parts.parts_of(request.app), request_lang(request), replies, lambda: _helpers(request)
    )
    return Markup(html)


def _lines_html(text: str) -> Markup:
    return Markup(f"<p class='typed'>{escape(text)}</p>")  # (Markup.format is slow)


def _other_who(request: web.Request, by: str, channel: str) -> str:
    return f"{by} {tr_channel(request, channel)}"


def tr_channel(request: web.Request, channel: str) -> str:
    return gettext(request_lang(request), CHANNELS.get(channel, channel))


async def start_transcript(request: web.Request, user: User, loaded: view.Loaded) -> Transcript:
    """The session's transcript of this response, begun with a greeting and the latest answers."""
    transcript = request.app[TRANSCRIPTS].get(user.session_hash, loaded.response.id or 0)
    if transcript.started:
        return transcript
    transcript.started = True
    model = request.app[MODEL]
    lang = request_lang(request)
    rows = await view.revisions_after(request.app[DB], loaded.response.id or 0, 0, limit=HISTORY)
    body = render_fragment(
        request,
        "_greeting.html.j2",
        {
            "name": user.name or user.email,
            "organisation": loaded.organisation,
            "cycle": loaded.cycle,
            "model_name": model.name.get(lang),
            "may_answer": may_answer(user, loaded),
            "is_admin": user.is_admin,
            "status": loaded.state.status,
            "history": [
                {
                    "line": view.revision_line(model, r, lang),
                    "who": _other_who(request, r.by, r.channel),
                    "when": _when(request, r.at),
                }
                for r in rows
            ],
            **_helpers(request),
        },
    )
    add_entry(request, transcript, "bot", "Infosäkkollen", Markup(body), None)
    transcript.cursor = max((r.id for r in rows), default=transcript.cursor)
    transcript.seen = loaded.state.version  # read before those rows: what it shows is at least as new
    if not rows:
        transcript.cursor = max(transcript.cursor, 0)
    return transcript


async def catch_up(
    request: web.Request, user: User, transcript: Transcript, response_id: int, version: int
) -> list[Entry]:
    """Entries for answers stored by others since the transcript's cursor (this session's own are
    skipped); ``version`` is the response's version as read before, which the transcript then shows."""
    model = request.app[MODEL]
    lang = request_lang(request)
    own = set(transcript.own)
    groups: dict[tuple[str, str, Any], list[Any]] = {}
    while True:
        rows = await view.revisions_after(request.app[DB], response_id, transcript.cursor or -1, limit=100)
        if not rows:
            break
        transcript.cursor = max(r.id for r in rows)
        for r in rows:
            if r.channel == "web" and r.by == user.email and r.at in own:
                continue
            transcript.errors.pop(r.question, None)  # answered since: the old mistake is history
            groups.setdefault((r.by, r.channel, r.at), []).append(r)
        if len(rows) < 100:
            break
    transcript.seen = max(transcript.seen, version)
    added = []
    for (by, channel, at), group in groups.items():
        text = "\n".join(view.revision_line(model, r, lang) for r in group)
        added.append(
            add_entry(request, transcript, "other", _other_who(request, by, channel), _lines_html(text), at)
        )
    return added


# --- turns ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnResult:
    stay_on: str | None  # the question to keep on screen (a mistake on it, or still open)
    entries: list[Entry]
    step: Step | None
    transcript: Transcript


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _values(form: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(form, "getall"):
        return [v for v in form.getall(name, []) if isinstance(v, str)]
    value = form.get(name)
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def form_turn(
    model: Model, form: Mapping[str, Any], lang: str
) -> tuple[tuple[Any, ...], str, str | None, str]:
    """(items, text, current question, what the person said) of a posted chat form."""
    action = _text(form.get("handling")) or ("skriv" if _text(form.get("text")) else "svara")
    qid = _text(form.get("fraga")) or None
    if qid is not None and not view.known(model, qid):
        qid = None
    if action == "skriv":
        text = str(form.get("text") or "")[:10_000]
        return (), text, qid, text.strip()
    if action == "klar":
        return (CommandLine("done", "klar"),), "", qid, gettext(lang, "klar")
    if action == "skicka-in":
        return (CommandLine("submit", "skicka in"),), "", qid, gettext(lang, "skicka in")
    if qid is None:
        return (), "", None, ""
    if action == "hoppa":
        source = f"{qid} " + gettext(lang, "hoppa över")
        return (SkipLine(qid, source),), "", qid, source
    q = model.question(qid)
    if q is not None:
        letters = [x for x in dict.fromkeys(v.strip().lower() for v in _values(form, "val")) if x]
        order = {o.id: i for i, o in enumerate(q.options)}
        letters.sort(key=lambda x: order.get(x, len(order)))
        certainty = _text(form.get("saker"))
        certain = True if certainty == "ja" else False if certainty == "nej" else None
        comment = _text(form.get("kommentar"))[:2000] or None
        source = format_answer(q, letters, certain, comment, lang=lang) if letters else qid
        return (AnswerLine(qid, tuple(letters), certain, comment, source),), "", qid, source
    vq = model.validation_question(qid)
    assert vq is not None
    value = (_values(form, "val") or [""])[0] if vq.kind == "choice" else _text(form.get("varde"))
    source = f"{qid} {value}".strip()
    return (ValidationLine(qid, value, source),), "", qid, source


async def take_turn(
    request: web.Request,
    user: User,
    loaded: view.Loaded,
    form: Mapping[str, Any],
    actor: Actor | None = None,
) -> TurnResult:
    """Run one chat turn and add it, with the bot's replies, to the transcript.

    ``actor`` is the user's, when the caller keeps it.
    """
    model = request.app[MODEL]
    lang = request_lang(request)
    rid = loaded.response.id or 0
    transcript = await start_transcript(request, user, loaded)
    items, text, qid, said = form_turn(model, form, lang)
    if not items and not text.strip():
        return TurnResult(qid, [], None, transcript)
    added: list[Entry] = []
    async with transcript.lock:
        at = now()
        transcript.own.append(at)
        turn = Turn(actor or user.actor(), "web", at, text=text, current_question=qid, items=items)
        added.append(add_entry(request, transcript, "me", user.name or user.email, _lines_html(said), at))
        try:
            outcome = await handle_turn(  # on SQLite, writers of this process take turns (bot/db)
                request.app[DB],
                model,
                rid,
                turn,
                effects=request.app[EFFECTS],
                contact=user.contact,
            )
        except TurnConflict:
            body = Markup("<p>{}</p>").format(
                gettext(
                    lang,
                    "Svaret ändrades samtidigt från ett annat håll. Inget av detta sparades; försök igen.",
                )
            )
            added.append(add_entry(request, transcript, "bot", "Infosäkkollen", body, now()))
            return TurnResult(qid, added, None, transcript)
        except ResponseNotFound:
            raise Refused(404, "Det finns inget sådant svar.") from None
        step = outcome.step
        replies = list(step.replies)
        upcoming = view.next_open(model, step.state)
        if (
            step.changes
            and (qid is None or qid in step.changes)
            and upcoming is not None
            and not any(isinstance(r, AskQuestion) for r in replies)
        ):
            section = model.sections[view.section_index(model, upcoming)].id
            replies.append(AskQuestion(upcoming, section))
        # the replies carry the turn's time: they answer it, within the same minute
        added.append(
            add_entry(request, transcript, "bot", "Infosäkkollen", _replies_html(request, replies), at)
        )
        errors = [r for r in step.replies if isinstance(r, Invalid)]
        transcript.errors.clear()
        for e in errors:
            if e.question:
                transcript.errors[e.question] = explain(e, model, lang)
        changed = bool(step.changes) or any(
            isinstance(r, Completed | Submitted | AskSection) for r in replies
        )
        if step.state.version != loaded.state.version + int(changed):
            added += await catch_up(request, user, transcript, rid, step.state.version)  # others changed it
        elif transcript.seen == loaded.state.version:
            # nobody else changed the response since the transcript showed it as of that version,
            # so the answer revisions since are this session's own: the cursor moves past them
            transcript.seen = step.state.version
            transcript.cursor = max((transcript.cursor, *outcome.revisions))
    stay = None
    if qid is not None and (qid in transcript.errors or qid not in step.state.answers):
        stay = qid
    return TurnResult(stay, added, step, transcript)


# --- pages -----------------------------------------------------------------------------------------


async def home(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    if user.is_admin:
        raise web.HTTPSeeOther("/oversikt")
    async with request.app[DB].transaction(readonly=True) as session:
        response = (
            await session.exec(
                select(Response)
                .join(Cycle, col(Cycle.id) == col(Response.cycle_id))
                .where(col(Response.organisation_id) == user.organisation_id)
                .order_by(col(Cycle.launch).desc(), col(Response.id).desc())
            )
        ).first()
        organisation = await session.get(Organisation, user.organisation_id)
    if response is None:
        return render(request, "no_response.html.j2", {"organisation": organisation})
    raise web.HTTPSeeOther(f"/svar/{response.id}")


def viewer(request: web.Request, user: User, loaded: view.Loaded) -> parts.Viewer:
    return parts.Viewer(
        lang=request_lang(request),
        rid=loaded.response.id or 0,
        csrf=csrf_token(request),
        can_answer=may_answer(user, loaded),
        is_coordinator=user.coordinator and not user.is_admin,
        read_only_reason=_read_only_reason(user, loaded),
    )


def page_parts(
    request: web.Request,
    user: User,
    loaded: view.Loaded,
    transcript: Transcript,
    shown: str | None,
    who: parts.Viewer | None = None,
    memo: parts.IndexMemo | None = None,
) -> parts.Shown:
    """The question on screen (``shown``, else the next open one), the status and the sidebar."""
    model = request.app[MODEL]
    state = loaded.state
    qid = shown if view.known(model, shown) else view.next_open(model, state)
    return parts.shown(
        parts.parts_of(request.app),
        who or viewer(request, user, loaded),
        state,
        loaded.cycle.deadline,
        qid,
        transcript.errors.get(qid or "", ""),
        memo,
    )


def chat_context(
    request: web.Request, user: User, loaded: view.Loaded, transcript: Transcript, shown: str | None
) -> dict[str, Any]:
    model = request.app[MODEL]
    lang = request_lang(request)
    return {
        **_helpers(request),
        "rid": loaded.response.id,
        "response": loaded.response,
        "organisation": loaded.organisation,
        "cycle": loaded.cycle,
        "model_name": model.name.get(lang).split(" (")[0],
        "status": loaded.state.status,
        "entries": list(transcript.entries),
        "shown": page_parts(request, user, loaded, transcript, shown),
    }


def _title(request: web.Request, qid: str | None) -> str:
    return _title_text(request_lang(request), qid)


@functools.lru_cache(maxsize=512)
def _title_text(lang: str, qid: str | None) -> str:
    return gettext(lang, "Fråga %(id)s", id=qid) if qid else gettext(lang, "Alla frågor genomgångna")


def _read_only_reason(user: User, loaded: view.Loaded) -> str:
    if user.is_admin:
        return "Du är inloggad som administratör och kan läsa men inte svara."
    if not user.may_answer:
        return "Du kan läsa svaret men inte svara: bara samordnare och respondenter kan svara."
    if loaded.state.status == "submitted":
        return "Svaret är inskickat och kan inte längre ändras."
    if loaded.state.status == "closed":
        return "Svarstiden har gått ut och svaret är stängt."
    return ""


async def chat_page(request: web.Request) -> web.StreamResponse:
    user, loaded = await access(request)
    transcript = await start_transcript(request, user, loaded)
    async with transcript.lock:
        await catch_up(request, user, transcript, loaded.response.id or 0, loaded.state.version)
    shown = request.query.get("fraga")
    context = chat_context(request, user, loaded, transcript, shown)
    context["page_title"] = f"{_title(request, context['shown'].qid)} – {loaded.organisation.name}"
    context["ws_url"] = f"/svar/{loaded.response.id}/ws?csrf={csrf_token(request)}"
    context["response_version"] = loaded.state.version
    async with request.app[DB].transaction(readonly=True) as session:
        others = (
            await session.exec(
                select(Response, Cycle)
                .join(Cycle, col(Cycle.id) == col(Response.cycle_id))
                .where(col(Response.organisation_id) == loaded.response.organisation_id)
                .order_by(col(Cycle.launch).desc())
            )
        ).all()
    context["cycles"] = [(r.id, c.name) for r, c in others] if len(others) > 1 else []
    return render(request, "chat.html.j2", context)


async def chat_post(request: web.Request) -> web.StreamResponse:
    user, loaded = await access(request)
    form = await checked_form(request)
    refuse_read_only(user)
    result = await take_turn(request, user, loaded, form)
    target = f"/svar/{loaded.response.id}"
    if result.stay_on:
        target += f"?fraga={result.stay_on}"
    bots = [e for e in result.entries if e.role == "bot"]
    if bots:
        target += f"#m{bots[-1].id}"
    raise web.HTTPSeeOther(target)


_COMMANDS = {"klar": "done", "skicka-in": "submit"}


async def command_page(request: web.Request) -> web.StreamResponse:
    user, loaded = await access(request)
    action = request.match_info["action"]
    if action not in _COMMANDS:
        raise Refused(404, "Sidan finns inte.")
    if not user.coordinator or user.is_admin:
        raise Refused(403, "Bara samordnaren kan avsluta eller skicka in svaret.")
    model = request.app[MODEL]
    progress = view.progress_view(model, loaded.state, request_lang(request), None)
    return render(
        request,
        "confirm.html.j2",
        {
            "action": action,
            "rid": loaded.response.id,
            "organisation": loaded.organisation,
            "cycle": loaded.cycle,
            "status": loaded.state.status,
            "progress": progress,
            **_helpers(request),
        },
    )


async def command_post(request: web.Request) -> web.StreamResponse:
    user, loaded = await access(request)
    action = request.match_info["action"]
    if action not in _COMMANDS:
        raise Refused(404, "Sidan finns inte.")
    form = await checked_form(request)
    if not user.coordinator or user.is_admin:
        raise Refused(403, "Bara samordnaren kan avsluta eller skicka in svaret.")
    result = await take_turn(request, user, loaded, {"handling": action, "csrf": form.get("csrf")})
    bots = [e for e in result.entries if e.role == "bot"]
    raise web.HTTPSeeOther(f"/svar/{loaded.response.id}" + (f"#m{bots[-1].id}" if bots else ""))


# --- the WebSocket -------------------------------------------------------------------------------------


class _Socket:
    """One open chat page: turns in, fresh views out, live changes from other channels."""

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, user: User, loaded: view.Loaded
    ) -> None:
        self.request = request
        self.ws = ws
        self.user = user
        self.loaded = loaded
        self.rid = loaded.response.id or 0
        self.shown: str | None = request.query.get("fraga") or None
        self.sent_entry = 0
        self.send_lock = asyncio.Lock()
        self.busy = asyncio.Lock()  # held while a turn of this page runs
        self.queue: asyncio.Queue[int] | None = None
        self.viewer: parts.Viewer | None = None  # what depends on who looks, per status
        self.viewer_status = ""
        self.index = parts.IndexMemo()  # the index sections as last rendered for this page
        self.sent: dict[str, str] = {}  # the question, status and progress as last sent
        self.sent_sections: tuple[str, ...] = ()  # the index sections as last sent
        self.actor = user.actor()  # who answers, as the socket's user was read when it opened

    async def update(self, *, focus: str | None, transcript: Transcript | None = None) -> None:
        request = self.request
        if transcript is None:
            transcript = await start_transcript(request, self.user, self.loaded)
        if self.viewer is None or self.viewer_status != self.loaded.state.status:
            self.viewer = viewer(request, self.user, self.loaded)
            self.viewer_status = self.loaded.state.status
        shown = page_parts(request, self.user, self.loaded, transcript, self.shown, self.viewer, self.index)
        self.sent_entry, entries = transcript.html_after(self.sent_entry)
        payload: dict[str, Any] = {
            "type": "update",
            "entries": entries,
            "shown": shown.qid,
            "focus": focus,
            "title": f"{_title(request, shown.qid)} – {self.loaded.organisation.name} – Infosäkkollen",
            "version": self.loaded.state.version,
        }
        for name, html in (
            ("question", shown.question),
            ("status", shown.status),
            ("progress", shown.progress),
        ):
            if self.sent.get(name) != html:  # a part the page already shows is not sent again
                payload[name] = self.sent[name] = html
        before = self.sent_sections or ("",) * len(shown.sections)
        changed = {
            str(n): html
            for n, (html, old) in enumerate(zip(shown.sections, before, strict=True), 1)
            if html != old
        }
        if changed:  # the index's sections that changed, by number (the page's id="avsnitt-N")
            payload["sections"] = changed
        self.sent_sections = shown.sections
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_frame(orjson.dumps(payload), WSMsgType.TEXT)  # UTF-8 already

    async def reload(self) -> None:
        fresh = await view.load(self.request.app[DB], self.rid)
        if fresh is not None:
            self.loaded = fresh

    async def listen(self, queue: asyncio.Queue[int]) -> None:
        while True:
            await queue.get()
            async with self.busy:
                version = await view.current_version(self.request.app[DB], self.rid)
                if version is None or version == self.loaded.state.version:
                    continue  # our own turn, already shown
                await self.reload()
                transcript = await start_transcript(self.request, self.user, self.loaded)
                async with transcript.lock:
                    await catch_up(self.request, self.user, transcript, self.rid, self.loaded.state.version)
                await self.update(focus=None)

    async def message(self, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind == "show":
            qid = data.get("question")
            self.shown = qid if isinstance(qid, str) and view.known(self.request.app[MODEL], qid) else None
            await self.update(focus="question")
        elif kind == "turn":
            form = data.get("form")
            if not isinstance(form, dict):
                return
            if not may_answer(self.user, self.loaded):
                return
            action = form.get("handling")
            if action in _COMMANDS and not self.user.coordinator:
                return
            with events.own_changes(self.queue):  # the page shows its own turn: no notice to itself
                result = await take_turn(self.request, self.user, self.loaded, form, self.actor)
            if result.step is not None:
                self.loaded = view.Loaded(
                    self.loaded.response, self.loaded.organisation, self.loaded.cycle, result.step.state
                )
            self.shown = result.stay_on
            await self.update(focus="question", transcript=result.transcript)


async def chat_socket(request: web.Request) -> web.StreamResponse:
    user, loaded = await access(request)
    if not same_origin(request):
        raise Refused(403, "Anslutningen kom från en annan webbplats.")
    check_csrf(request, request.query.get("csrf"))
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    socket = _Socket(request, ws, user, loaded)
    transcript = await start_transcript(request, user, loaded)
    socket.sent_entry = transcript.last_id
    async with events.subscription(socket.rid) as queue:
        socket.queue = queue
        if request.query.get("v", str(loaded.state.version)) != str(loaded.state.version):
            # the page is older than the response (changed while the socket was away): catch up
            async with transcript.lock:
                await catch_up(request, user, transcript, socket.rid, loaded.state.version)
            seen = request.query.get("e", "")
            socket.sent_entry = min(int(seen), transcript.last_id) if seen.isdigit() else 0
            await socket.update(focus=None)
        listener = asyncio.create_task(socket.listen(queue))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    try:
                        async with socket.busy:
                            await socket.message(data)
                    except Refused as exc:
                        await ws.send_str(orjson.dumps({"type": "error", "status": exc.status}).decode())
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
    return ws


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/svar/{rid}", chat_page)
    app.router.add_post("/svar/{rid}", chat_post)
    app.router.add_get("/svar/{rid}/ws", chat_socket)
    app.router.add_get("/svar/{rid}/{action}", command_page)
    app.router.add_post("/svar/{rid}/{action}", command_post)
