"""Composing mail: headers done right, and the section mail.

Every message has Message-ID, Date, From, a Reply-To that routes answers back to the
response (``svar+TOKEN@reply-domain``), threading headers (In-Reply-To/References to the
response's first mail) and ``Auto-Submitted`` on automatic mail. Bodies come from the
templates in ``mail_templates``; Swedish unless the contact prefers English.
"""

from __future__ import annotations

import re
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, make_msgid, parseaddr, parsedate_to_datetime
from functools import lru_cache
from typing import Any

import jinja2

from bot.db.tables import Contact, Cycle, Organisation, Response, now
from bot.i18n import environment, format_date, gettext
from bot.mail.render import BOUNDARY_PATTERN, render_markdown_template, set_bodies
from bot.settings import Settings
from bot.tokens import reply_token
from conversations.parsing import example_line, format_answer, format_validation
from conversations.questionnaire import Model
from conversations.state import AnswerRecord

_text = environment(jinja2.PackageLoader("mail_templates", "."), html=False)

# Values that the standard policy writes unchanged when they fit on one line: printable
# ASCII without what makes the folding quote or encode a token (quoted strings, comments,
# domain literals, backslash escapes, encoded words); for the structured headers only
# their simplest well-formed shapes.
_PLAIN_HEADER = re.compile(r"[!#-'*-Z^-~]+(?: [!#-'*-Z^-~]+)*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_MAILBOX = rf"(?:{_ATOM}(?: {_ATOM})* <{_DOT_ATOM}@{_DOT_ATOM}>|{_DOT_ATOM}@{_DOT_ATOM})"
_PLAIN_ADDRESSES = re.compile(rf"{_MAILBOX}(?:, {_MAILBOX})*")
_PLAIN_MESSAGE_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_ADDRESS_HEADERS = {
    "from", "sender", "reply-to", "to", "cc", "bcc",
    "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
}  # fmt: skip
_DATE_HEADERS = {"date", "resent-date", "orig-date"}  # folded from the parsed date, not the text


def _plain(name: str, value: str) -> bool:
    """Whether the standard policy writes ``name: value`` (one line) unchanged."""
    if "=?" in value:
        return False
    lname = name.lower()
    if lname in _ADDRESS_HEADERS:
        return _PLAIN_ADDRESSES.fullmatch(value) is not None
    if lname == "message-id":
        return _PLAIN_MESSAGE_ID.fullmatch(value) is not None
    if lname in _DATE_HEADERS:
        try:
            return format_datetime(parsedate_to_datetime(value)) == value
        except (ValueError, TypeError):
            return False
    if lname == "mime-version":
        return value == "1.0"
    if lname == "content-transfer-encoding":
        return value in ("7bit", "8bit", "base64", "quoted-printable", "binary")
    if lname in ("content-type", "content-disposition"):
        return False
    return _PLAIN_HEADER.fullmatch(value) is not None


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, remembering the class it makes for each name: the
    stdlib builds a new class on every lookup, and a message looks names up many times
    (each header set, read or counted)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


_ID_LISTS = {"references", "in-reply-to"}
_PLAIN_MESSAGE_IDS = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>(?: <{_DOT_ATOM}@{_DOT_ATOM}>)*")


def _wrap(name: str, words: list[str], maxlen: int) -> str | None:
    """Message ids, folded as the standard policy folds them: as many on a line as fit
    (the first line after ``name: ``), the next line begun with a space. None when an id
    does not fit on a line of its own, or when the whole list would fit on the second line
    but not the first (the standard policy then leaves the first line empty)."""
    total = sum(map(len, words)) + len(words) - 1
    if len(name) + 2 + total > maxlen and 1 + total <= maxlen:
        return None
    lines: list[str] = []
    line = ""
    room = maxlen - len(name) - 2
    for word in words:
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= room:
            line += " " + word
        else:
            lines.append(line)
            line = " " + word
            room = maxlen
        if len(line) > room:
            return None
    lines.append(line)
    return "\n".join(lines)


_FOLDED_CACHE_SIZE = 4096
_PARSED_CACHE_SIZE = 256


class MailPolicy(EmailPolicy):
    """``email.policy.default`` that stores header values as folded text, not parse trees.

    The default policy parses every header value when it is set and folds the parse tree
    again when the message is serialised, which cost more than rendering a receipt (an
    encoded display name in From/Reply-To takes about a millisecond per header). This
    policy produces the same bytes with less work:

    * a short value of plain ASCII (nothing the folding would quote or encode, one line
      within ``max_line_length``) is stored as given: the standard policies write such a
      raw value unchanged, and folding its parse tree gives the same line;
    * any other value is parsed and folded once, as the standard policy would, and the
      folded text is stored; results are remembered per (name, value), so a constant
      From or a response's Reply-To is folded only once per process.

    Reading a header (``msg["To"]``) still returns a parsed header object, built from the
    stored text as for a message read from bytes; header objects are immutable, so the
    object for a (name, text) read before is reused (serialising a multipart message
    reads each Content-Type several times).
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if type(value) is not str:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        header = _PARSED.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            _PARSED[key] = header
            if len(_PARSED) > _PARSED_CACHE_SIZE:
                _PARSED.popitem(last=False)
        return header

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is not str:
            return super().header_store_parse(name, value)
        maxlen = self.max_line_length or sys.maxsize
        if len(name) + 2 + len(value) <= maxlen and _plain(name, value):
            return name, value
        if name.lower() in _ID_LISTS and _PLAIN_MESSAGE_IDS.fullmatch(value):
            folded = _wrap(name, value.split(" "), maxlen)
            if folded is not None:
                return name, folded
        own = _OWN_BOUNDARY.search(value) if name.lower() == "content-type" else None
        if own is not None and own.group(1) != _STAND_IN:
            # a boundary of ours (bot.mail.render.new_boundary): every one of them folds as
            # a stand-in of the same length and characters does
            _, folded = self.header_store_parse(name, value[: own.start(1)] + _STAND_IN + value[own.end(1) :])
            if type(folded) is str and folded.count(_STAND_IN) == 1:
                return name, folded.replace(_STAND_IN, own.group(1))
        key = (name, value, self.max_line_length, self.utf8)
        folded = _FOLDED.get(key)
        if folded is None:
            header = super().header_store_parse(name, value)[1]
            text = header.fold(policy=self)
            if not text.startswith(f"{name}: "):
                return name, header
            lines = text[len(name) + 2 :].splitlines()
            if (
                not lines
                or len(lines[0]) + len(name) + 2 > maxlen
                or any(len(line) > maxlen for line in lines[1:])
            ):
                return name, header  # an unbreakable token: keep the parsed header
            folded = "\n".join(lines)
            _FOLDED[key] = folded
            if len(_FOLDED) > _FOLDED_CACHE_SIZE:
                _FOLDED.popitem(last=False)
        else:
            _FOLDED.move_to_end(key)
        return name, folded


_OWN_BOUNDARY = re.compile(r'boundary="(' + BOUNDARY_PATTERN + ')"')
_STAND_IN = "=_" + "0" * 32  # the shape of new_boundary()
_FOLDED: OrderedDict[tuple[str, str, int | None, bool], str] = OrderedDict()
_PARSED: OrderedDict[tuple[str, str], Any] = OrderedDict()
POLICY = MailPolicy(header_factory=_HeaderClasses())
SMTP_POLICY = POLICY.clone(linesep="\r\n")
"""For serialising: ``email.policy.SMTP`` with the header handling of :class:`MailPolicy`."""


def reply_address(settings: Settings, response_id: int) -> str:
    return _reply_address(settings.secret(), settings.reply_domain, response_id)


@lru_cache(maxsize=4096)
def _reply_address(secret: bytes, domain: str, response_id: int) -> str:
    return f"svar+{reply_token(secret, response_id)}@{domain}"


def message_id(settings: Settings) -> str:
    return make_msgid(domain=_id_domain(settings.mail_from, settings.reply_domain))


@lru_cache(maxsize=64)
def _id_domain(mail_from: str, reply_domain: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or reply_domain


def new_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    lang: str,
    response: Response | None = None,
    auto: str = "auto-generated",
    in_reply_to: str | None = None,
) -> EmailMessage:
    """A message with every header set; the caller adds the body."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now())
    msg["Message-ID"] = message_id(settings)
    msg["Content-Language"] = lang
    if auto:
        msg["Auto-Submitted"] = auto
    if response is not None and response.id is not None:
        msg["Reply-To"] = formataddr((settings.authority_name, reply_address(settings, response.id)))
        thread = [t for t in (response.thread_id, in_reply_to) if t]
        if thread:
            msg["In-Reply-To"] = thread[-1]
            msg["References"] = " ".join(dict.fromkeys(thread))
    return msg


@dataclass(frozen=True, slots=True)
class _OptionView:
    id: str
    text: str
    keyword: str


@dataclass(frozen=True, slots=True)
class _QuestionView:
    id: str
    kind: str  # "level" | "validation"
    text: Any
    stem: str
    scoring: str
    help: str
    options: tuple[_OptionView, ...]
    current: str


def question_views(
    model: Model, ids: Sequence[str], lang: str, answers: Mapping[str, AnswerRecord]
) -> list[_QuestionView]:
    """What a section shows of each question, with the current answer in reply format."""
    views = []
    for qid in ids:
        q = model.question(qid)
        rec = answers.get(qid)
        if q is not None:
            current = ""
            if rec is not None and not rec.skipped:
                current = format_answer(q, rec.options, rec.certain, rec.comment, lang=lang)
            views.append(
                _QuestionView(
                    q.id,
                    "level",
                    q.text,
                    q.stem.get(lang) if q.stem.values else "",
                    q.scoring,
                    q.help.get(lang),
                    tuple(
                        _OptionView(o.id, o.text.get(lang), o.keyword.get(lang) if o.keyword.values else "")
                        for o in q.options
                    ),
                    current,
                )
            )
            continue
        v = model.validation_question(qid)
        if v is None:
            continue
        current = format_validation(v, rec.value, lang=lang) if rec is not None and rec.value else ""
        views.append(
            _QuestionView(
                v.id,
                "validation",
                v.text,
                "",
                v.kind,
                v.help.get(lang) if v.help.values else "",
                tuple(_OptionView(o.id, o.text.get(lang), "") for o in v.options),
                current,
            )
        )
    return views


def section_mail(
    settings: Settings,
    model: Model,
    *,
    response: Response,
    organisation: Organisation,
    cycle: Cycle,
    contact: Contact,
    index: int,
    answers: Mapping[str, AnswerRecord],
    only_open: bool = False,
) -> EmailMessage:
    """The mail that presents section ``index`` to a contact."""
    lang = contact.language if contact.language in model.languages else model.default_language
    section = model.sections[index]
    ids = [q for q in section.questions if not (only_open and q in answers)] or list(section.questions)
    first = model.any_question(ids[0])
    subject = gettext(
        lang,
        "%(cycle)s: %(title)s (avsnitt %(i)s av %(n)s)",
        cycle=f"{gettext(lang, 'Infosäkkollen')} {cycle.name}",
        title=section.title.get(lang),
        i=index + 1,
        n=len(model.sections),
    )
    msg = new_message(settings, to=contact.email, subject=subject, lang=lang, response=response)
    context = {
        "model": model,
        "lang": lang,
        "section": section,
        "index": index,
        "count": len(model.sections),
        "questions": question_views(model, ids, lang, answers),
        "organisation": organisation,
        "cycle": cycle,
        "deadline": format_date(cycle.deadline, lang),
        "example": example_line(first, lang) if first is not None else "1.1 a c säker",
    }
    text = _text.get_template("section.txt.j2").render(context)
    set_bodies(
        msg,
        text,
        render_markdown_template("section.md.j2", **context),
        lang=lang,
        title=subject,
        preheader=gettext(lang, "Svara direkt på mejlet med en rad per fråga."),
    )
    return msg
