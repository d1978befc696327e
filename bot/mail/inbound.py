"""Reads one inbound mail: raw bytes in, an :class:`InboundMail` value out.

This is the edge where coordinators' replies arrive, so it never raises and never loses
what it was given: headers are decoded (RFC 2047/2231, any charset), the body is found
in whatever MIME structure the client built (or broke), HTML-only mail is turned into
text, and the reply is separated from the quoted history, signatures and client footers
it carries. It also tells automatic mail apart (auto replies with the date the person is
back, delivery status notifications) and reports what the receiving MTA said about SPF,
DKIM and DMARC. Pure: no clock, no database, no network; the shell decides what to do
with the result (see ``shared/spec/reply-format.md`` for the promise to the user).

Theory of operation
-------------------
**Parsing.** The stdlib parser with the ``compat32`` policy does the MIME work: it is the
most forgiving policy (it records defects instead of raising) and the fastest. Header
values are decoded here, chunk by chunk, so that an unknown charset or raw 8-bit bytes
in one chunk cannot spoil the rest. Body bytes are decoded with the declared charset;
``iso-8859-1``/``us-ascii`` labels are read as windows-1252 (as browsers do, because
Outlook declares latin-1 and sends curly quotes); an unknown or wrong label falls back to
utf-8, then windows-1252, then latin-1, and sets ``charset_problems``.

**The body.** In ``multipart/alternative`` the ``text/plain`` alternative wins when it
has text, else the HTML one; in ``multipart/related`` the root part is the body; in
other multiparts every inline text part without a file name is body (Apple Mail splits
text around inline attachments) and everything else is an :class:`Attachment`. A
multipart whose boundary is missing or wrong is re-read with the first boundary-looking
line of its body, or as plain text. ``format=flowed`` text is unwrapped (RFC 3676).

**HTML.** :func:`html_to_text` keeps the structure that matters for answers: a line per
``<br>``, ``<p>``, ``<div>``, ``<li>`` and table row; ``> `` before every line inside a
``<blockquote>``; a ``-- `` line before Gmail's and new Outlook's signature blocks; and a
``________________________________`` line where Outlook's reply header starts
(``divRplyFwdMsg``, ``appendonsend`` or the ``border-top:solid #E1E1E1`` rule), exactly
as Outlook writes it in its own text alternative. Gmail's ``gmail_quote`` needs no
marker: its attribution line is recognised like the text one and its history sits in a
``<blockquote>``, while answers a user types inline sit between the blockquotes and so
stay unquoted.

**The answer** (:func:`strip_reply`). History starts at the first of: an attribution line
(``Den … skrev …:``, ``… skrev:``, ``On … wrote:``, also wrapped over two lines and in
Gmail Android's ``10:15Anna`` form), an Outlook header block (``Från:``/``From:`` followed
by two of ``Skickat``/``Datum``/``Till``/``Ämne`` or their English names), a separator
(``-----Ursprungligt meddelande-----``, ``-----Original Message-----``, a run of
underscores, forward banners), or the first ``>`` line. Then, in this order:

1. *Inline answers.* When unquoted lines stand between quoted lines after the history
   started, or answer-like lines follow the last quoted line, the user answered under the
   quoted questions: the text before the history is cleaned as in 3, and the quoted block
   is kept from its first line to the last unquoted line (without the attribution line and
   without the signature below it), because the parser needs each ``>`` question above
   its answer.
2. *Answers typed into Outlook's unquoted history.* When the first history block is an
   Outlook header whose text is one of our section mails (question lines ``1.4  Har …?``)
   and contains answer-like lines (``a c säker``, or a filled-in ``1.4 a säker`` of the
   answer block), that text is kept up to the last such line; the parser recognises the
   unquoted questions. A reply to a receipt or to a colleague's mail is never kept this
   way, since no answer line is ever printed by us in the reply format.
3. *Otherwise* the text before the history is kept and cleaned: mail-parser-reply
   (``sv_x`` = its Swedish profile with the wider attribution pattern of
   ``shared/spec/ecosystem.md`` §2 and Outlook mobile footers, plus English) removes
   signatures after greetings (``Med vänliga hälsningar``, ``Mvh``, ``/Anna``, ``Best
   regards``) and known disclaimers; then a ``-- `` line, phone and app footers
   (``Skickat från min iPhone``, ``Hämta Outlook för iOS``), trailing contact blocks
   (``Tel: 08-…``, ``www.…``), legal disclaimers (``Detta e-postmeddelande kan innehålla…``)
   and trailing separators are cut.

No cut in 1–3 ever removes a line that looks like an answer (``1.4 a säker``,
``V3 40 %``, ``a c säker``) or a command: when a rule would, it is skipped for that mail.
An attribution without a date or time (``Per skrev:``) starts history only when a quote
follows it. :func:`read_message` hands :func:`strip_reply` at most the first 200,000
characters of a body, and converts at most 1,000,000 characters of HTML (the stdlib HTML
parser reads about a megabyte a second), so that a runaway body cannot stall the inbox.

**Automatic mail.** ``auto_reply`` says why a mail is automatic: ``Auto-Submitted`` other
than ``no``, ``X-Autoreply``/``X-Autorespond``, ``Precedence`` ``auto_reply``/``bulk``/
``junk``/``list``, ``X-MS-Exchange-Inbox-Rules-Loop``, an out-of-office subject
(``Frånvaro``, ``Autosvar``, ``Automatiskt svar``, ``Out of office``, ``Automatic reply``
…), and only when none of those is present a short body saying the person is away and when
they are back (or whom to turn to), with no answer line in it. For those :func:`extract_return_date` reads when the person is
back. ``bounce`` reads RFC 3464 delivery status notifications and the common
non-standard bounces from ``MAILER-DAEMON``/``postmaster`` (a report inside an attached,
forwarded message is not this message's bounce).

**Authentication.** Only the topmost ``Authentication-Results`` header is read: each MTA
adds its own on top, so the first one is the one our own MTA wrote, and any header below
it came with the message and may be forged by the sender. Pass ``authserv_id`` to insist
that the topmost header is also signed with our MTA's name; if it is not, nothing is
trusted.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Literal, TypeVar

from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage as _ReplyParserMessage

__all__ = [
    "Attachment",
    "AuthResult",
    "Bounce",
    "BouncedRecipient",
    "InboundMail",
    "extract_return_date",
    "html_to_text",
    "read_message",
    "strip_reply",
]

TextSource = Literal["plain", "html", "none"]
_T = TypeVar("_T")

# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part that is not the body: a file, an inline image, an attached message.

    ``inline`` is true for parts shown in the body (``Content-Disposition: inline`` or a
    ``Content-ID`` without a disposition), typically signature logos.
    """

    filename: str | None
    content_type: str
    size: int
    payload: bytes = field(repr=False)
    content_id: str | None
    inline: bool


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    """One recipient of a delivery status notification."""

    address: str
    action: str  # "failed", "delayed", "delivered", "relayed", "expanded"
    status: str | None  # "5.1.1"
    diagnostic: str | None


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery failure report.

    ``kind`` is ``"dsn"`` for RFC 3464 reports and ``"non-standard"`` for the text bounces
    of some MTAs. ``original_message_id`` is the Message-ID of the mail that bounced,
    when the report includes its headers.
    """

    kind: Literal["dsn", "non-standard"]
    recipients: tuple[BouncedRecipient, ...]
    reporting_mta: str | None
    original_message_id: str | None

    @property
    def failed(self) -> tuple[BouncedRecipient, ...]:
        return tuple(r for r in self.recipients if r.action == "failed")

    @property
    def permanent(self) -> bool:
        """Whether some recipient failed for good (a 5.x.x status, or no status given)."""
        return any((r.status or "5").startswith("5") for r in self.failed)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """What our MTA's ``Authentication-Results`` header says (see the module docstring).

    Results are lower-case RFC 8601 words (``pass``, ``fail``, ``softfail``, ``none`` …)
    or None when the method is absent. ``failed`` is true when DMARC failed, or when both
    DKIM and SPF failed.
    """

    authserv_id: str | None
    spf: str | None
    dkim: str | None
    dmarc: str | None
    failed: bool

    @property
    def present(self) -> bool:
        return self.authserv_id is not None


NO_AUTH = AuthResult(authserv_id=None, spf=None, dkim=None, dmarc=None, failed=False)


@dataclass(frozen=True, slots=True)
class InboundMail:
    """Everything the bot reads from one inbound mail. Addresses are lower-case."""

    message_id: str
    from_address: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]
    x_original_to: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    auto_reply: str | None
    return_date: _dt.date | None
    bounce: Bounce | None
    authentication: AuthResult
    text: str
    answer_text: str
    text_source: TextSource
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    charset_problems: bool

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient address (To, Cc, Delivered-To, X-Original-To), once each."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.delivered_to, *self.x_original_to)))


# --------------------------------------------------------------------------- read_message

_MAX_REPLY_CHARS = 200_000  # what strip_reply reads of a body; a reply is far shorter


def read_message(raw: bytes, *, authserv_id: str | None = None) -> InboundMail:
    """Read one mail as received (RFC 5322 bytes, any line endings).

    ``authserv_id`` is our MTA's name in ``Authentication-Results``; when given, the
    topmost header must carry it to be trusted.

    Returns:
        An :class:`InboundMail`. Never raises: an unreadable piece becomes an empty value
        and a line in ``defects``.
    """
    defects: list[str] = []

    def safe(what: str, fn: Callable[[], _T], default: _T) -> _T:
        try:
            return fn()
        except Exception as exc:  # the edge must not lose mail over one bad piece
            defects.append(f"internal error reading {what}: {type(exc).__name__}")
            return default

    raw = bytes(raw)
    msg = safe("structure", lambda: message_from_bytes(raw, policy=compat32), None)
    if msg is None:
        text = raw.decode("utf-8", "replace")
        answer = safe("answer", lambda: strip_reply(text[:_MAX_REPLY_CHARS]), text)
        return InboundMail(
            message_id=_digest_id(raw),
            from_address="",
            from_name="",
            to=(),
            cc=(),
            delivered_to=(),
            x_original_to=(),
            reply_to=(),
            subject="",
            in_reply_to=None,
            references=(),
            date=None,
            auto_reply=None,
            return_date=None,
            bounce=None,
            authentication=NO_AUTH,
            text=text,
            answer_text=answer,
            text_source="plain",
            attachments=(),
            defects=tuple(defects),
            charset_problems=True,
        )
    problems: list[bool] = []
    message_id = safe("Message-ID", lambda: _first_msgid(_header(msg, "Message-ID")), None)
    from_name, from_address = safe("From", lambda: _from(msg), ("", ""))
    subject = safe("Subject", lambda: _header(msg, "Subject", problems) or "", "")
    body = safe("body", lambda: _read_body(msg), _Body())
    defects.extend(body.defects)
    text = body.text
    # A reply is short; only a runaway body is this long, and its start is what counts.
    answer = safe("answer", lambda: strip_reply(text[:_MAX_REPLY_CHARS]), text)
    sent = safe("Date", lambda: _date(msg), None)
    auto = safe("auto reply", lambda: _auto_reply(msg, subject, answer), None)
    back = None
    if auto is not None and sent is not None:
        day = sent.date()
        back = safe("return date", lambda: extract_return_date(f"{subject}\n{answer}", day), None)
        if back is None and text != answer:
            back = safe("return date", lambda: extract_return_date(text, day), None)
    return InboundMail(
        message_id=message_id or _digest_id(raw),
        from_address=from_address,
        from_name=from_name,
        to=safe("To", lambda: _addresses(msg, "To"), ()),
        cc=safe("Cc", lambda: _addresses(msg, "Cc"), ()),
        delivered_to=safe("Delivered-To", lambda: _addresses(msg, "Delivered-To"), ()),
        x_original_to=safe("X-Original-To", lambda: _addresses(msg, "X-Original-To"), ()),
        reply_to=safe("Reply-To", lambda: _addresses(msg, "Reply-To"), ()),
        subject=subject,
        in_reply_to=safe("In-Reply-To", lambda: _first_msgid(_header(msg, "In-Reply-To")), None),
        references=safe("References", lambda: tuple(_MSGID_RE.findall(_header(msg, "References") or "")), ()),
        date=sent,
        auto_reply=auto,
        return_date=back,
        bounce=safe("bounce", lambda: _bounce(msg, from_address, from_name, subject, text), None),
        authentication=safe("Authentication-Results", lambda: _authentication(msg, authserv_id), NO_AUTH),
        text=text,
        answer_text=answer,
        text_source=body.source,
        attachments=tuple(body.attachments),
        defects=tuple(dict.fromkeys(defects)),
        charset_problems=body.charset_problems or any(problems),
    )


def _digest_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@assessbot.invalid>"


# --------------------------------------------------------------------------- headers

_MSGID_RE = re.compile(r"<[^<>\s]+>")
_FOLD_RE = re.compile(r"\s*\r?\n\s*")
_WS_RE = re.compile(r"\s+")


def _header(msg: Message, name: str, problems: list[bool] | None = None) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    return _decode_header_value(value, problems)


def _decode_header_value(value: str | Header, problems: list[bool] | None = None) -> str:
    """Decode RFC 2047 words (and raw 8-bit bytes) of one header value, never raising."""
    if isinstance(value, str):
        value = _FOLD_RE.sub(" ", value)
        if "=?" not in value:
            return value.strip()
    try:
        chunks = decode_header(value)
    except Exception:
        return str(value).strip()
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        text, bad = _decode_bytes(chunk, charset)
        if bad and problems is not None:
            problems.append(True)
        if charset == "unknown-8bit" and "=?" in text:
            text = _decode_header_value(text, problems)
        out.append(text)
    return _WS_RE.sub(" ", "".join(out)).strip()


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSGID_RE.search(value)
    if m is not None:
        return m.group(0)
    token = value.strip().split()
    return f"<{token[0].strip('<>')}>" if token and token[0].strip("<>") else None


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for _, a in _address_pairs(msg, name)))


def _address_pairs(msg: Message, name: str) -> list[tuple[str, str]]:
    values = [_FOLD_RE.sub(" ", str(v)) for v in msg.get_all(name) or []]
    out = []
    for display, address in getaddresses(values):
        address = address.strip().strip("<>").lower()
        if "@" in address:
            out.append((_decode_header_value(display) if display else "", address))
    return out


def _from(msg: Message) -> tuple[str, str]:
    pairs = _address_pairs(msg, "From")
    if not pairs:
        return "", ""
    name, address = pairs[0]
    return name.strip().strip('"').strip(), address


def _date(msg: Message) -> datetime | None:
    value = _header(msg, "Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --------------------------------------------------------------------------- decoding

# Labels that mean "windows-1252" in practice (WHATWG encoding standard).
_AS_WINDOWS_1252 = frozenset({"latin_1", "iso8859_1", "ascii", "cp1252"})
_UTF8_SEQUENCE_RE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def _decode_bytes(data: bytes, label: str | None) -> tuple[str, bool]:
    """Decode ``data`` declared as ``label``; returns the text and whether it needed a guess."""
    name = _codec_name(label)
    if name is not None:
        try:
            if name in _AS_WINDOWS_1252:
                try:
                    return data.decode("cp1252"), False
                except UnicodeDecodeError:
                    if name != "ascii":
                        return data.decode("latin-1"), False
                    raise
            return data.decode(name), False
        except (UnicodeDecodeError, LookupError, ValueError, TypeError):
            pass
    elif not label:
        try:
            return data.decode("ascii"), False
        except UnicodeDecodeError:
            pass
    return _guess(data), True


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in ("unknown-8bit", "x-unknown", "unknown"):
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # "base64", "rot13" and the like are not charsets
    return info.name.replace("-", "_")


def _guess(data: bytes) -> str:
    """utf-8, else mostly-utf-8 with replacement, else windows-1252, else latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = len(_UTF8_SEQUENCE_RE.findall(data))
    if good and bad * 4 <= good:
        return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _part_text(part: Message, subtype: str) -> tuple[str, bool]:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    try:
        label = part.get_content_charset()
    except Exception:
        label = None
    if label is None and subtype == "html":
        m = _META_CHARSET_RE.search(payload[:4096])
        if m is not None:
            label = m.group(1).decode("ascii", "replace")
    text, bad = _decode_bytes(payload, label)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if subtype == "plain":
        params = {k.lower(): v.lower() for k, v in part.get_params() or [] if isinstance(v, str)}
        if params.get("format") == "flowed":
            text = _unflow(text, params.get("delsp") == "yes")
    return text, bad


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676)."""
    out: list[str] = []
    joining = False
    last_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content.rstrip() != "--"
        if flowed and delsp:
            content = content[:-1]
        if joining and depth == last_depth and out:
            out[-1] += content
        else:
            out.append((">" * depth + " " if depth else "") + content)
        joining, last_depth = flowed, depth
    return "\n".join(out)


# --------------------------------------------------------------------------- MIME walk


@dataclass(slots=True)
class _Body:
    text: str = ""
    source: TextSource = "none"
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    charset_problems: bool = False


@dataclass(slots=True)
class _Acc:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    charset_problems: bool = False

    def merge(self, other: _Acc, *, body: bool) -> None:
        if body:
            self.plain.extend(other.plain)
            self.html.extend(other.html)
        self.attachments.extend(other.attachments)
        self.defects.extend(other.defects)
        self.charset_problems = self.charset_problems or other.charset_problems


_MAX_DEPTH = 40
_MAX_HTML_CHARS = 1_000_000  # Python's HTML parser reads about 1 MB a second
_BOUNDARY_LINE_RE = re.compile(rb"^--([^\s]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)


def _read_body(msg: Message) -> _Body:
    acc = _Acc()
    _walk(msg, acc, 0)
    for part in _walk_parts(msg):
        for d in getattr(part, "defects", ()):
            acc.defects.append(f"{type(d).__name__} ({part.get_content_type()})")
    plain = "\n".join(t for t in acc.plain if t.strip())
    if plain.strip():
        text, source = plain, "plain"
    elif any(h.strip() for h in acc.html):
        if sum(map(len, acc.html)) > _MAX_HTML_CHARS:
            acc.defects.append(f"HTML body longer than {_MAX_HTML_CHARS} characters: only its start was read")
        text = "\n".join(html_to_text(h[:_MAX_HTML_CHARS]) for h in acc.html if h.strip())
        source = "html"
    else:
        text, source = "", "none"
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    return _Body(
        text=text,
        source=source,  # type: ignore[arg-type]
        attachments=acc.attachments,
        defects=acc.defects,
        charset_problems=acc.charset_problems,
    )


def _walk_parts(msg: Message, *, into_messages: bool = True) -> Iterable[Message]:
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        yield part
        payload = part.get_payload()
        if not into_messages and part.get_content_type() == "message/rfc822":
            continue
        if isinstance(payload, list) and depth < _MAX_DEPTH:
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))


def _walk(part: Message, acc: _Acc, depth: int, *, body: bool = True) -> None:
    if depth > _MAX_DEPTH:
        acc.defects.append("MIME nesting too deep")
        return
    ctype = part.get_content_type()
    maintype = ctype.partition("/")[0]
    payload = part.get_payload()
    if maintype == "multipart":
        if not isinstance(payload, list):
            _salvage(part, acc, depth, body=body)
            return
        children = [p for p in payload if isinstance(p, Message)]
        if ctype == "multipart/alternative":
            _alternative(children, acc, depth, body=body)
        elif ctype in ("multipart/related", "multipart/signed"):
            for i, child in enumerate(children):
                _walk(child, acc, depth + 1, body=body and i == 0)
        else:
            for child in children:
                _walk(child, acc, depth + 1, body=body)
        return
    if ctype == "message/rfc822" or (maintype == "message" and isinstance(payload, list)):
        acc.attachments.append(_attachment(part, _message_bytes(part)))
        return
    disposition = _disposition(part)
    filename = _filename(part)
    if body and ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        subtype = ctype.partition("/")[2]
        text, bad = _part_text(part, subtype)
        acc.charset_problems = acc.charset_problems or bad
        (acc.plain if subtype == "plain" else acc.html).append(text)
        return
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = str(payload or "").encode("utf-8", "surrogateescape")
    acc.attachments.append(_attachment(part, data, filename, disposition))


def _alternative(children: Sequence[Message], acc: _Acc, depth: int, *, body: bool) -> None:
    subs = []
    for child in children:
        sub = _Acc()
        _walk(child, sub, depth + 1, body=body)
        subs.append(sub)
    chosen = next((s for s in subs if any(t.strip() for t in s.plain)), None)
    if chosen is None:
        chosen = next((s for s in reversed(subs) if any(t.strip() for t in s.html)), None)
    for sub in subs:
        acc.merge(sub, body=sub is chosen)


def _salvage(part: Message, acc: _Acc, depth: int, *, body: bool) -> None:
    """A multipart whose parts could not be split: find a boundary, or read it as text."""
    raw = part.get_payload()
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    m = _BOUNDARY_LINE_RE.search(data)
    if m is not None:
        boundary = m.group(1).decode("ascii", "replace").replace('"', "")
        header = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\n\n'.encode()
        inner = message_from_bytes(header + data, policy=compat32)
        if isinstance(inner.get_payload(), list):
            acc.defects.append(f"re-read with boundary found in body ({part.get_content_type()})")
            _walk(inner, acc, depth + 1, body=body)
            return
    if body and data.strip():
        acc.defects.append(f"read as text: no parts found ({part.get_content_type()})")
        text, bad = _decode_bytes(data, _safe_charset(part))
        acc.charset_problems = acc.charset_problems or bad
        acc.plain.append(text.replace("\r\n", "\n"))


def _safe_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _disposition(part: Message) -> str | None:
    value = part.get("Content-Disposition")
    if value is None:
        return None
    return str(value).split(";")[0].strip().lower() or None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
        if isinstance(name, tuple):
            name = str(name[2])
    if not name:
        return None
    return _decode_header_value(str(name)) or None


def _message_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        try:
            return payload[0].as_bytes()
        except Exception:
            return str(payload[0]).encode("utf-8", "surrogateescape")
    return b""


def _attachment(
    part: Message, data: bytes, filename: str | None = None, disposition: str | None = None
) -> Attachment:
    if filename is None:
        filename = _filename(part)
    if disposition is None:
        disposition = _disposition(part)
    cid = part.get("Content-ID")
    content_id = str(cid).strip().strip("<>").strip() or None if cid is not None else None
    return Attachment(
        filename=filename,
        content_type=part.get_content_type(),
        size=len(data),
        payload=data,
        content_id=content_id,
        inline=disposition == "inline" or (disposition is None and content_id is not None),
    )


# --------------------------------------------------------------------------- HTML to text

HISTORY_SEPARATOR = "_" * 32
_MAX_QUOTE_DEPTH = 12  # deeper quotes get no more "> ": they are history all the same
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "li", "tr", "table", "tbody", "thead", "tfoot", "ul", "ol", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr", "section", "article", "header", "footer",
        "address", "center", "blockquote", "form", "fieldset", "caption", "body", "html", "main",
        "nav", "aside", "figure", "figcaption",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"style", "script", "head", "title", "xml", "template", "noscript", "svg"})
_HISTORY_IDS = frozenset({"divrplyfwdmsg", "x_divrplyfwdmsg", "appendonsend", "x_appendonsend"})
_SIGNATURE_IDS = frozenset({"signature", "x_signature"})
_SPACES_RE = re.compile(r"[ \t\n\r\f\v\u00a0]+")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.line_depth = 0
        self.depth = 0
        self.skip = 0
        self.pre = 0
        self.has_text = False  # the current line has more than whitespace
        self.blank_block = False  # the block held only &nbsp;: Outlook's way to write an empty line

    # ---- output

    def prefix(self, depth: int) -> str:
        return "> " * min(depth, _MAX_QUOTE_DEPTH)

    def flush(self, *, force: bool = False) -> None:
        text = "".join(self.buf).strip() if self.has_text else ""
        self.buf.clear()
        self.has_text = False
        force = force or (self.blank_block and not text)
        self.blank_block = False
        if text or force:
            prefix = self.prefix(self.line_depth if text else self.depth)
            self.lines.append((prefix + text).rstrip() if text else prefix.rstrip())
        self.line_depth = self.depth

    def write(self, text: str) -> None:
        if not self.has_text and text.strip():
            self.line_depth = self.depth
            self.has_text = True
        self.buf.append(text)

    def marker(self, line: str) -> None:
        self.flush()
        marked = self.prefix(self.depth) + line
        if not self.lines or self.lines[-1].strip() != marked.strip():
            self.lines.append(marked)

    # ---- parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip = 0
        if tag in _SKIP_TAGS:
            self.skip += 1
            return
        if self.skip:
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        ident = a.get("id", "").lower()
        classes = set(a.get("class", "").lower().split())
        style = a.get("style", "").lower().replace(" ", "")
        if (
            ident in _HISTORY_IDS
            or "border-top:solid#e1e1e1" in style
            or "border-top:solid#b5c4df" in style
            or "outlookmessageheader" in classes
        ):
            self.marker(HISTORY_SEPARATOR)
        elif ident in _SIGNATURE_IDS or "gmail_signature" in classes:
            self.marker("-- ")
        if tag == "br":
            self.flush(force=True)
        elif tag == "blockquote":
            self.flush()
            self.depth += 1
            self.line_depth = self.depth
        elif tag == "li":
            self.flush()
            self.write("- ")
        elif tag in ("td", "th"):
            if self.has_text:
                self.buf.append(" ")
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "blockquote":
            self.flush()
            self.depth = max(0, self.depth - 1)
            self.line_depth = self.depth
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.replace("\r\n", "\n").split("\n")
            for i, piece in enumerate(parts):
                if i:
                    self.flush(force=True)
                self.write(piece.replace("\u00a0", " "))
            return
        if "\u00a0" in data and not self.has_text and not data.strip(" \t\r\n\u00a0"):
            self.blank_block = True
        self.write(_SPACES_RE.sub(" ", data))

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        for line in self.lines:
            blank = not line.strip(" >")
            if blank and (not out or not out[-1].strip(" >")):
                continue
            out.append(line)
        while out and not out[-1].strip(" >"):
            out.pop()
        return "\n".join(out)


_TAG_RE = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Turn an HTML mail body into text with its line structure and quoting.

    See the module docstring for what becomes a line, a ``> `` quote and a history or
    signature marker. Entities are decoded; ``<style>``, ``<script>`` and ``<head>`` are
    dropped. Never raises: markup the parser cannot take is reduced by removing tags.
    """
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
        return parser.result()
    except Exception:
        import html as _html

        text = re.sub(r"(?is)<(style|script|head)\b.*?</\1\s*>", " ", html)
        text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|li|tr)\s*>", "\n", text)
        return _html.unescape(_TAG_RE.sub("", text)).strip()


# --------------------------------------------------------------------------- answer lines

_ID_PREFIX_RE = re.compile(
    r"(?:[*•·\-–]\s+)?(?:(?:fråga|fraga|question)\s*)?([1-9][0-9]?\.[0-9]{1,2}|v[0-9]{1,2})"
    r"(?=[\s:)\-–—]|\.(?!\d)|$)[\s:.)\-–—]*",
    re.IGNORECASE,
)
_BULLET_RE = re.compile(r"[*•·\-–]\s+")
_COMMENT_RE = re.compile(r"#|\b(?:kommentar|comment)\s*:", re.IGNORECASE)
_TOKEN_SPLIT_RE = re.compile(r"[\s,&;()\[\]{}]+")
_OPTION_LINE_RE = re.compile(r"[a-z][).]\s", re.IGNORECASE)
_LETTER_RE = re.compile(r"[a-zåäö]")
_RANGE_RE = re.compile(r"[a-z][-–—][a-z]")
_NUMBER_RE = re.compile(r"[0-9][0-9.,]*%?")
_KEYWORDS = frozenset(
    {"nej", "no", "ingen", "none", "pågår", "pagar", "ongoing", "nyligen", "recent", "andra", "other"}
)
_FILLERS = frozenset(
    {
        "säker", "osäker", "saker", "osaker", "sure", "unsure", "certain", "uncertain", "bedömning",
        "bedomning", "assessment", "och", "and", "till", "to", "hoppa", "över", "over", "skip", "%",
        "procent", "percent", "st", "stycken", "pcs", "ca", "cirka", "ungefär", "about", "approx",
        "-", "–", "—",
    }
)  # fmt: skip
_COMMANDS = frozenset(
    {"status", "hjälp", "hjalp", "help", "nästa", "nasta", "next", "klar", "färdig", "fardig", "done",
     "skicka in", "submit", "pausa", "pause"}
)  # fmt: skip


def _tokens(text: str) -> list[str]:
    return [t for t in (raw.strip(".!?:;\"'") for raw in _TOKEN_SPLIT_RE.split(text.lower())) if t]


def _choice_token(t: str) -> bool:
    return bool(_LETTER_RE.fullmatch(t) or _RANGE_RE.fullmatch(t) or t in _KEYWORDS)


def _answer_token(t: str) -> bool:
    return _choice_token(t) or t in _FILLERS or bool(_NUMBER_RE.fullmatch(t))


def _is_id_answer(line: str) -> bool:
    """``1.4 a säker``, ``Fråga 1.4: b``, ``V3 40 %``, ``1.4 hoppa över``, ``1.4 # kommentar``."""
    s = line.strip()
    m = _ID_PREFIX_RE.match(s)
    if m is None:
        return False
    rest = s[m.end() :]
    c = _COMMENT_RE.search(rest)
    tokens = _tokens(rest[: c.start()] if c else rest)
    if not tokens:
        return c is not None
    return _answer_token(tokens[0]) and 2 * sum(map(_answer_token, tokens)) > len(tokens)


def _is_bare_answer(line: str) -> bool:
    """``a c säker`` under a question: only answer words, at least one option."""
    s = line.strip()
    if not s or s.startswith(">") or _OPTION_LINE_RE.match(s):
        return False
    b = _BULLET_RE.match(s)
    if b is not None:
        s = s[b.end() :]
    c = _COMMENT_RE.search(s)
    tokens = _tokens(s[: c.start()] if c else s)
    return 0 < len(tokens) <= 12 and all(map(_answer_token, tokens)) and any(map(_choice_token, tokens))


def _is_command(line: str) -> bool:
    s = line.strip().strip(" \t.!?:;,").lower()
    return len(s) < 24 and " ".join(s.split()) in _COMMANDS


def _is_answer(line: str) -> bool:
    return _is_id_answer(line) or _is_bare_answer(line) or _is_command(line)


# --------------------------------------------------------------------------- history markers

_ATTRIBUTION_RES = (
    # Swedish: Gmail "Den tors 4 mars 2027 kl 10:12 skrev X <x>:", Gmail Android
    # "Den fre 28 feb. 2025 10:15Anna <a@x> skrev:", Apple "4 mars 2027 kl. 10:12 skrev X:",
    # Thunderbird "Den 2027-03-04 kl. 10:12, skrev X:", Outlook "Den … skrev "X" <x> följande:".
    re.compile(
        r"^(?:den\s|\d{1,2}\s|\d{4}-|(?:mån|tis|ons|tors?|fre|lör|sön)\w*\s).{0,200}\bskrev\b.{0,200}:$", re.I
    ),
    re.compile(r"^.{0,200}\d{1,2}[:.]\d{2}.{0,200}\bskrev\b.{0,200}:$", re.I),
    re.compile(r"^\S.{0,80}\sskrev\s?:$", re.I),
    # English: "On Thu, Mar 4, 2027 at 10:12 AM X <x> wrote:", "On 2027-03-04 10:12, X wrote:".
    re.compile(r"^on\s.{0,240}\bwrote\s?:$", re.I),
    re.compile(r"^.{0,200}\d{1,2}[:.]\d{2}.{0,200}\bwrote\s?:$", re.I),
    re.compile(r"^\S.{0,80}\swrote\s?:$", re.I),
    # German, for colleagues abroad.
    re.compile(r"^am\s.{0,200}\bschrieb\b.{0,200}:$", re.I),
)
_DATED_RE = re.compile(r"\d{1,2}[:.]\d{2}|\d{4}")
_ATTRIBUTION_START_RE = re.compile(
    r"^(?:den\s|on\s|am\s|\d{1,2}\s|\d{4}-|(?:mån|tis|ons|tors?|fre|lör|sön)\w*\s|[a-z]{3},?\s)", re.I
)
_SEPARATOR_RE = re.compile(
    r"^(?:-{2,}\s*(?:ursprungligt meddelande|originalmeddelande|original message|vidarebefordrat meddelande"
    r"|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht)\s*-{2,}"
    r"|_{10,}|(?:början på vidarebefordrat (?:brev|meddelande)|begin forwarded message"
    r"|inledning av vidarebefordrat meddelande)\s*:)$",
    re.I,
)
_HEADER_FROM_RE = re.compile(r"^\**\s*(?:från|from|von|de|fra)\s*:\**\s*\S", re.I)
_HEADER_OTHER_RE = re.compile(
    r"^\**\s*(skickat|sent|datum|date|till|to|ämne|subject|kopia|cc|gesendet|an|betreff|dato|emne|sendt)\s*:",
    re.I,
)


@dataclass(frozen=True, slots=True)
class _Marker:
    start: int
    end: int  # exclusive
    kind: Literal["attribution", "outlook", "separator"]


def _attribution_at(lines: Sequence[str], i: int) -> int:
    """The number of lines (1 or 2) of an attribution line starting at ``i``, or 0.

    One without a date or time (``Per skrev:``) counts only when a quote follows it, so
    that ``Vår IT-chef skrev:`` above pasted answers is not taken for history.
    """
    line = lines[i].strip()
    if not line or len(line) > 300 or line.startswith(">"):
        return 0
    n = 0
    if line.endswith(":") and any(r.match(line) for r in _ATTRIBUTION_RES):
        n, text = 1, line
    elif i + 1 < len(lines) and _ATTRIBUTION_START_RE.match(line):
        nxt = lines[i + 1].strip()
        if nxt.endswith(":") and not nxt.startswith(">"):
            text = f"{line} {nxt}"
            if len(text) <= 320 and any(r.match(text) for r in _ATTRIBUTION_RES):
                n = 2
    if n and not _DATED_RE.search(text):
        below = next((x.strip() for x in lines[i + n :] if x.strip()), "")
        if not below.startswith(">"):
            return 0
    return n


def _outlook_header_at(lines: Sequence[str], i: int) -> int:
    """The number of lines of an Outlook/forward header block (From + 2 others) at ``i``, or 0."""
    if not _HEADER_FROM_RE.match(lines[i].strip()):
        return 0
    seen: set[str] = set()
    end = i + 1
    j = i + 1
    while j < len(lines) and j <= i + 8:
        s = lines[j].strip()
        m = _HEADER_OTHER_RE.match(s)
        if m is not None:
            seen.add(m.group(1).lower())
            end = j + 1
        elif s and seen and j == end and not s.startswith(">"):
            end = j + 1  # a wrapped address or subject line
        elif not s and len(seen) >= 2:
            break
        j += 1
    return end - i if len(seen) >= 2 else 0


def _markers(lines: Sequence[str]) -> list[_Marker]:
    out: list[_Marker] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s or s.startswith(">"):
            i += 1
            continue
        if _SEPARATOR_RE.match(s):
            out.append(_Marker(i, i + 1, "separator"))
            i += 1
            continue
        n = _outlook_header_at(lines, i)
        if n:
            out.append(_Marker(i, i + n, "outlook"))
            i += n
            continue
        n = _attribution_at(lines, i)
        if n:
            out.append(_Marker(i, i + n, "attribution"))
            i += n
            continue
        i += 1
    return out


# --------------------------------------------------------------------------- signatures and footers

_FOOTER_RE = re.compile(
    r"^(?:skickat|skickades|sänt)\s+från\s+(?:min|mitt|outlook|mail|e-post|yahoo)\b.{0,60}$"
    r"|^(?:hämta|skaffa)\s+outlook\s+för\s.{0,80}$"
    r"|^get\s+outlook\s+for\s.{0,80}$"
    r"|^sent\s+from\s+(?:my|outlook|mail|yahoo)\b.{0,60}$"
    r"|^sent\s+from\s+(?:iphone|ipad|android|samsung|galaxy|mobile)\b.{0,60}$"
    r"|^von\s+meinem\s.{0,60}\sgesendet$",
    re.I,
)
_SIG_DELIMITER_RE = re.compile(r"^--\s?$")
_GREETING_RE = re.compile(
    r"^(?:(?:med\s+)?(?:vänliga|vänlig|bästa|varma|glada|många)?\s*hälsning(?:ar)?\b|mvh\b|vh\b|/\w+$"
    r"|(?:best|kind|warm|with\s+kind)\s+regards\b|regards\b|best\s+wishes\b|cheers\b|yours\s+sincerely\b"
    r"|tack\s+på\s+förhand\b|tack\s*[,!.]?$|thanks\s*[,!.]?$|thank\s+you\s*[,!.]?$)",
    re.I,
)
_DISCLAIMER_RE = re.compile(
    r"^(?:detta\s+(?:e-?post(?:meddelande)?|e-?brev|mejl|mail|meddelande)\b|det\s+här\s+(?:e-?postmeddelandet|meddelandet|mejlet)\b"
    r"|när\s+du\s+(?:skickar|kontaktar|har\s+kontakt|kommunicerar)\b|om\s+du\s+har\s+fått\s+det(?:ta|\s+här)\b"
    r"|information\s+om\s+hur\s+.{0,40}personuppgifter|vi\s+behandlar\s+dina\s+personuppgifter"
    r"|läs\s+(?:mer\s+)?om\s+hur\s+.{0,40}personuppgifter|tänk\s+på\s+miljön|sekretess(?:meddelande)?\s*:"
    r"|konfidentiell"
    r"|this\s+(?:e-?mail|message|communication)\b.{0,80}\b(?:confidential|intended|privileged|contain)"
    r"|the\s+information\s+(?:contained|in\s+this)|confidentiality\s+notice|disclaimer\s*:"
    r"|please\s+consider\s+the\s+environment)",
    re.I,
)
_CONTACT_LABEL_RE = re.compile(
    r"^(?:tel|telefon|tfn|mobil|mob|mobiltelefon|växel|vxl|direkt|direktnr|fax|phone|mobile|cell|e-?post|e-?mail"
    r"|besöksadress|postadress|adress|address|org\.?\s*nr|webb|web)\b\.?\s*:?",
    re.I,
)
_CONTACT_ITEM_RE = re.compile(
    r"\+?\d{1,4}[- ]\d{2,4}(?:[ -]?\d{2,3}){2,3}\b|\bwww\.\S+|https?://\S+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    re.I,
)
_TRAILING_JUNK_RE = re.compile(r"^(?:[_\-=*~─═]{2,}|[>\s]*)$")

_REPLY_LANGUAGES = ("sv_x", "en")


def _register_swedish() -> None:
    """Add ``sv_x``: the stock Swedish profile with the wider attribution pattern of
    ``ecosystem.md`` §2, Outlook's mobile footers and a few more greetings."""
    if "sv_x" in MAIL_LANGUAGES:
        return
    q = QUOTED_MATCH_INCLUDE
    sv = dict(MAIL_LANGUAGES["sv"])
    sv["wrote_header"] = (
        r"^(" + q + r"(?:Den\s.{5,60}?\d{1,2}[:.]\d{2}\s?\S.*\sskrev:|"
        r"(?:Den|[Mm]ån|[Tt]is|[Oo]ns|[Tt]or|[Ff]re|[Ll]ör|[Ss]ön|(?:[0-9]+\s+(?:jan|feb|mar|apr|maj|jun|jul|aug|sep|okt|nov|dec)))"
        r"[^\n]*skrev\s(?:.+?\s?.+?):))$"
    )
    sv["sent_from"] = r"Skickat från min|Skickat från Outlook|Hämta Outlook för|Skaffa Outlook för"
    sv["signatures"] = [
        *MAIL_LANGUAGES["sv"].get("signatures", []),
        "Med vänlig hälsning",
        "Vänlig hälsning",
        "Hälsning",
        "MVH",
    ]
    MAIL_LANGUAGES["sv_x"] = sv


_register_swedish()


def _reply_parser_body(text: str) -> str:
    """mail-parser-reply's first reply without signature and disclaimers.

    ``EmailReplyParser.read`` cannot pass ``keep_hyphen_lists``, so the message is built
    the way it builds it; without the flag every ``- 1.4 a säker`` bullet would be read as
    the start of a signature. When the library drops an answer line anyway (``Thanks,``
    above the answers is an English greeting to it), its result is not used.
    """
    if not text.strip():
        return ""
    try:
        message = _ReplyParserMessage(
            text=text, languages=list(_REPLY_LANGUAGES), keep_hyphen_lists=True
        ).read()
        replies = message.replies
        body = str(replies[0].body) if replies else text
    except Exception:
        return text
    kept = {line.strip() for line in body.split("\n")}
    if any(line.strip() not in kept for line in text.split("\n") if _is_answer(line)):
        return text
    return body


def _cut_before(lines: list[str], pred: Callable[[str], bool]) -> list[str]:
    """Cut at the first line matching ``pred`` that has no answer line after it."""
    for i, line in enumerate(lines):
        if pred(line.strip()) and not any(_is_answer(x) for x in lines[i + 1 :]):
            return lines[:i]
    return lines


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    out = []
    start = None
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if start is None:
                start = i
        elif start is not None:
            out.append((start, i))
            start = None
    return out


def _is_name_block(block: Sequence[str]) -> bool:
    return len(block) <= 4 and all(
        len(s.split()) <= 6 and s[:1].isupper() and not any(c.isdigit() for c in s) and s[-1:] not in ".?!:"
        for s in (x.strip() for x in block)
    )


def _is_contact_line(line: str) -> bool:
    """``Tel: 08-123 45 67``, ``www.exempelby.se``, ``070-123 45 67 | a@b.se``: not a sentence."""
    s = line.strip()
    if not s or len(s) > 90:
        return False
    if _CONTACT_LABEL_RE.match(s):
        return True
    rest = _CONTACT_ITEM_RE.sub("", s)
    return rest != s and len(rest.strip(" |,;:/-–·•()[]<>")) <= 20


def _drop_signature_blocks(lines: list[str]) -> list[str]:
    """Drop trailing paragraphs that are contact details or disclaimers (and a name above)."""
    dropped = False
    while True:
        paras = _paragraphs(lines)
        if not paras:
            return lines
        start, end = paras[-1]
        block = lines[start:end]
        if any(_is_answer(x) for x in block):
            return lines
        first = block[0].strip()
        contact = (
            len(block) <= 12
            and all(len(x.strip()) <= 90 for x in block)
            and any(map(_is_contact_line, block))
        )
        if _DISCLAIMER_RE.match(first) or contact or (dropped and _is_name_block(block) and len(paras) > 1):
            lines = lines[:start]
            dropped = True
            continue
        return lines


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and _TRAILING_JUNK_RE.match(lines[end - 1].strip()):
        end -= 1
    return lines[start:end]


def _clean_own_text(lines: Sequence[str]) -> list[str]:
    """The user's own (unquoted) text without signature, footers and disclaimers."""
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return []
    out = _trim(_reply_parser_body(text).split("\n"))
    out = _cut_before(out, _SIG_DELIMITER_RE.match)  # type: ignore[arg-type]
    out = _cut_before(out, _FOOTER_RE.match)  # type: ignore[arg-type]
    out = _cut_before(out, _GREETING_RE.match)  # type: ignore[arg-type]
    out = _trim(out)
    out = _drop_signature_blocks(out)
    return _trim(out)


# --------------------------------------------------------------------------- strip_reply

_SECTION_QUESTION_RE = re.compile(r"^\s*(?:[1-9][0-9]?\.[0-9]{1,2}|V[0-9]{1,2})\s+[A-ZÅÄÖ].{15,}\?\s*$")


def strip_reply(text: str) -> str:
    """The part of a reply's text that the user wrote now (see the module docstring).

    Removes quoted history, signatures, client footers and disclaimers; keeps quoted
    questions that have the user's inline answers under them, and answers typed into
    Outlook's unquoted copy of a section mail.

    Returns:
        The text, lines joined with ``\\n``; empty when nothing was written.
    """
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    quoted = [line.lstrip().startswith(">") for line in lines]
    markers = _markers(lines)
    q0 = next((i for i, q in enumerate(quoted) if q), None)
    first = markers[0] if markers else None

    if q0 is not None:
        start = q0
        for mk in markers:
            if mk.kind == "attribution" and mk.end <= q0 and not any(x.strip() for x in lines[mk.end : q0]):
                start = mk.start
        if first is None or first.start >= start:
            end = _inline_end(lines, quoted, q0, markers)
            if end is not None:
                skip = {i for mk in markers for i in range(mk.start, mk.end) if mk.start >= start}
                region = [lines[i] for i in range(start, end) if i not in skip]
                return _join(_clean_own_text(lines[:start]), _trim(region))

    if first is not None and first.kind != "attribution":
        typed = _typed_into_history(lines, markers)
        if typed:
            return _join(_clean_own_text(lines[: first.start]), typed)

    cut = min(first.start if first else len(lines), q0 if q0 is not None else len(lines))
    return "\n".join(_clean_own_text(lines[:cut]))


def _join(own: list[str], rest: list[str]) -> str:
    if own and rest:
        return "\n".join([*own, "", *rest])
    return "\n".join(own or rest)


def _inline_end(
    lines: Sequence[str], quoted: Sequence[bool], q0: int, markers: Sequence[_Marker]
) -> int | None:
    """End (exclusive) of the inline-answered block starting at ``q0``, or None if not inline."""
    stop = next((mk.start for mk in markers if mk.start > q0 and mk.kind != "attribution"), len(lines))
    marker_lines = {i for mk in markers for i in range(mk.start, mk.end)}
    last_q = max(i for i in range(q0, stop) if quoted[i]) if any(quoted[q0:stop]) else q0
    interleaved = [
        i for i in range(q0, last_q) if not quoted[i] and lines[i].strip() and i not in marker_lines
    ]
    trailing: list[int] = []
    for i in range(last_q + 1, stop):
        s = lines[i].strip()
        if not s or i in marker_lines:
            continue
        if (
            _SIG_DELIMITER_RE.match(s)
            or _FOOTER_RE.match(s)
            or _GREETING_RE.match(s)
            or _DISCLAIMER_RE.match(s)
        ) and not any(_is_answer(x) for x in lines[i + 1 : stop]):
            break
        trailing.append(i)
    answers_below = [i for i in trailing if _is_answer(lines[i])]
    if not interleaved and not answers_below:
        return None
    return max([*interleaved, *answers_below]) + 1


def _typed_into_history(lines: Sequence[str], markers: Sequence[_Marker]) -> list[str]:
    """Answers typed into Outlook's unquoted copy of a section mail (see the docstring)."""
    first = markers[0]
    i = first.end
    for mk in markers[1:]:
        if mk.kind != "attribution" and not any(x.strip() for x in lines[i : mk.start]):
            i = mk.end  # the separator line and the header block below it
        else:
            break
    stop = next((mk.start for mk in markers if mk.start >= i), len(lines))
    region = list(lines[i:stop])
    if not any(_SECTION_QUESTION_RE.match(x) for x in region):
        return []
    answers = [
        k
        for k, x in enumerate(region)
        if not x.lstrip().startswith(">") and (_is_id_answer(x) or _is_bare_answer(x))
    ]
    if not answers:
        return []
    return _trim(region[: answers[-1] + 1])


# --------------------------------------------------------------------------- auto replies

_AUTO_SUBJECT_RE = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:frånvaro|frånvarande|frånvaromeddelande|autosvar|automatiskt\s+svar|auto\s*svar|out\s+of\s+(?:the\s+)?office"
    r"|automatic\s+reply|auto[- ]?reply|autoreply|auto[- ]?response|abwesenheit|automatische\s+antwort"
    r"|autoantwort|fravær|poissa|réponse\s+automatique|semestersvar|ledig\s+(?:t\.?\s?o\.?\s?m|till))\b",
    re.I,
)
_AWAY_RE = re.compile(
    r"\b(?:jag\s+(?:är|befinner\s+mig)\s+(?:för\s+närvarande\s+|just\s+nu\s+)?(?:på\s+semester|ledig|tjänstledig"
    r"|föräldraledig|sjukskriven|frånvarande|bortrest|på\s+tjänsteresa|inte\s+på\s+(?:kontoret|plats|jobbet)"
    r"|utan\s+tillgång\s+till\s+(?:min\s+)?(?:e-?post|mejl|mail))"
    r"|jag\s+har\s+semester|(?:i\s+am|i'm|i\s+will\s+be)\s+(?:currently\s+)?(?:out\s+of\s+(?:the\s+)?office"
    r"|on\s+(?:vacation|holiday|leave|annual\s+leave|parental\s+leave|sick\s+leave)|away\s+from\s+(?:the\s+)?office))",
    re.I,
)


_AWAY_HINT_RE = re.compile(
    r"\b(?:tillbaka|åter|i\s+tjänst\s+igen|t\.?\s?o\.?\s?m|till\s+och\s+med|brådskande|vidarebefordras"
    r"|back|return|until|urgent|forwarded)\b",
    re.I,
)


def _auto_reply(msg: Message, subject: str, answer: str) -> str | None:
    auto = _header(msg, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _header(msg, name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    precedence = (_header(msg, "Precedence") or "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if msg.get("X-MS-Exchange-Inbox-Rules-Loop") is not None:
        return "X-MS-Exchange-Inbox-Rules-Loop"
    if _AUTO_SUBJECT_RE.match(subject):
        return f"Subject: {subject}"
    # The body alone is weak evidence: a short text that says the person is away, says
    # when they are back or whom to turn to, and contains no answer at all.
    if len(answer) <= 1200:
        m = _AWAY_RE.search(answer)
        if (
            m is not None
            and _AWAY_HINT_RE.search(answer)
            and not any(_is_answer(x) for x in answer.split("\n"))
        ):
            return f"Body: {_WS_RE.sub(' ', m.group(0))}"
    return None


# --------------------------------------------------------------------------- return dates

_MONTHS = {
    "jan": 1, "januari": 1, "january": 1, "feb": 2, "februari": 2, "february": 2, "mar": 3, "mars": 3,
    "march": 3, "apr": 4, "april": 4, "maj": 5, "may": 5, "jun": 6, "juni": 6, "june": 6, "jul": 7,
    "juli": 7, "july": 7, "aug": 8, "augusti": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "okt": 10, "oktober": 10, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12,
    "december": 12,
}  # fmt: skip
_WEEKDAYS = {
    "måndag": 0, "mån": 0, "monday": 0, "mon": 0, "tisdag": 1, "tis": 1, "tuesday": 1, "tue": 1,
    "tues": 1, "onsdag": 2, "ons": 2, "wednesday": 2, "wed": 2, "torsdag": 3, "tors": 3, "tor": 3,
    "thursday": 3, "thu": 3, "thurs": 3, "fredag": 4, "fre": 4, "friday": 4, "fri": 4, "lördag": 5,
    "lör": 5, "saturday": 5, "sat": 5, "söndag": 6, "sön": 6, "sunday": 6, "sun": 6,
}  # fmt: skip
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY_ALT = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))

# (pattern, language, days to add to the date found, priority: lower wins)
_TRIGGERS: tuple[tuple[re.Pattern[str], str, int, int], ...] = (
    (re.compile(r"\b(?:till\s+och\s+med|t\.\s?o\.\s?m\.?|tom)(?=[\s:])", re.I), "sv", 1, 0),
    (
        re.compile(
            r"\b(?:tillbaka|åter|i\s+tjänst|på\s+plats\s+igen|nås\s+igen|tillgänglig\s+igen|återkommer|börjar\s+(?:jobba|arbeta)\s+igen)\b",
            re.I,
        ),
        "sv",
        0,
        0,
    ),
    (re.compile(r"\b(?:up\s+to\s+and\s+including|through)\b", re.I), "en", 1, 0),
    (
        re.compile(
            r"\b(?:back|return(?:ing|s)?|in\s+the\s+office|available\s+again|reachable\s+again)\b", re.I
        ),
        "en",
        0,
        0,
    ),
    (re.compile(r"\btill\b", re.I), "sv", 0, 1),
    (re.compile(r"\buntil\b", re.I), "en", 0, 1),
)
_FILLER_RE = re.compile(
    r"(?:\s|[,:;.]|\b(?:den|på|igen|i|tjänst|kontoret|jobbet|plats|arbete|från|och|med|fr\.?\s?o\.?\s?m\.?|efter"
    r"|ca|cirka|preliminärt|at|on|in|the|office|again|to|work|from|by|of|expected|planned|will|be|am|is)\b)*",
    re.I,
)
_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\b")
_WEEKDAY_RE = re.compile(rf"({_WEEKDAY_ALT})(?:dagen)?\b\.?,?\s*(?:(?:den|the)\s+)?", re.I)
_DAY_MONTH_RE = re.compile(
    rf"(\d{{1,2}})(?::?e|st|nd|rd|th)?\.?\s+(?:of\s+)?({_MONTH_ALT})\b\.?(?:,?\s+(\d{{4}}))?", re.I
)
_MONTH_DAY_RE = re.compile(rf"({_MONTH_ALT})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", re.I)
_NUMERIC_RE = re.compile(r"(\d{1,2})([/.])(\d{1,2})(?:(?:[/.]|\s?-\s?)(\d{4}|\d{2}))?\b(?![/.]\d)")
_WEEK_RE = re.compile(r"(?:vecka|v\.?|week)\s?(\d{1,2})\b", re.I)
_TOMORROW_RE = re.compile(r"(?:(?:i\s?)?morgon|tomorrow)\b", re.I)


def extract_return_date(text: str, reference: date | None) -> date | None:
    """When an out-of-office text says the person is back, in Swedish or English.

    Reads phrases such as ``tillbaka 12 augusti``, ``åter den 2027-08-12``, ``i tjänst
    igen måndag 16/8``, ``ledig t.o.m. 11/8`` (the day after), ``back on 12 August``,
    ``return on 08/12/2027``, ``back Monday``, ``vecka 33`` (its Monday). ``reference`` is
    the day the mail was sent: it supplies missing years (the next such day on or after
    it, a week of slack allowed) and resolves weekdays and ``tomorrow``. Day and month are
    read day first in Swedish; in English a slashed date is read month first or day first,
    whichever falls within 120 days after ``reference`` when only one does. ``until`` and
    ``till`` alone are used only when nothing clearer is found.

    Returns:
        The first day back, or None when no date is stated or it is ambiguous,
        inconsistent with its weekday or implausibly far from ``reference``.
    """
    found: list[tuple[int, int, date]] = []
    for pattern, lang, add, priority in _TRIGGERS:
        for m in pattern.finditer(text):
            window = text[m.end() : m.end() + 80].split("\n\n")[0]
            day = _date_after(window, lang, reference)
            if day is not None:
                found.append((priority, m.start(), day + timedelta(days=add)))
                break
    if not found:
        return None
    return min(found)[2]


def _date_after(window: str, lang: str, ref: date | None) -> date | None:
    skip = _FILLER_RE.match(window)
    pos = skip.end() if skip else 0
    weekday: int | None = None
    wm = _WEEKDAY_RE.match(window, pos)
    if wm is not None:
        weekday = _WEEKDAYS[wm.group(1).lower()]
        pos = wm.end()
        skip = _FILLER_RE.match(window, pos)
        pos = skip.end() if skip else pos
    rest = window[pos:]
    candidates: list[date] = []
    if (m := _ISO_RE.match(rest)) is not None:
        candidates = _valid([(int(m.group(1)), int(m.group(2)), int(m.group(3)))])
    elif (m := _DAY_MONTH_RE.match(rest)) is not None:
        candidates = _with_year(int(m.group(3) or 0), _MONTHS[m.group(2).lower()], int(m.group(1)), ref)
    elif (m := _MONTH_DAY_RE.match(rest)) is not None:
        candidates = _with_year(int(m.group(3) or 0), _MONTHS[m.group(1).lower()], int(m.group(2)), ref)
    elif (m := _NUMERIC_RE.match(rest)) is not None:
        a, b = int(m.group(1)), int(m.group(3))
        year = int(m.group(4) or 0)
        if 0 < year < 100:
            year += 2000
        candidates = _with_year(year, b, a, ref)
        if lang == "en" and m.group(2) == "/" and a != b:
            us = _with_year(year, a, b, ref)
            candidates = _nearest_only(candidates + us, ref) if candidates and us else candidates or us
    elif (m := _WEEK_RE.match(rest)) is not None and ref is not None:
        week = int(m.group(1))
        for year in (ref.year, ref.year + 1):
            try:
                monday = date.fromisocalendar(year, week, 1)
            except ValueError:
                continue
            if monday >= ref - timedelta(days=7):
                candidates = [monday]
                break
    elif _TOMORROW_RE.match(rest) is not None and ref is not None:
        candidates = [ref + timedelta(days=1)]
    elif weekday is not None and ref is not None:
        candidates = [ref + timedelta(days=(weekday - ref.weekday() - 1) % 7 + 1)]
    if len(candidates) != 1:
        return None
    day = candidates[0]
    if weekday is not None and day.weekday() != weekday:
        return None
    if ref is not None and not ref - timedelta(days=7) <= day <= ref + timedelta(days=400):
        return None
    return day


def _valid(ymd: Iterable[tuple[int, int, int]]) -> list[date]:
    out = []
    for y, m, d in ymd:
        try:
            out.append(date(y, m, d))
        except ValueError:
            continue
    return out


def _with_year(year: int, month: int, day: int, ref: date | None) -> list[date]:
    if year:
        return _valid([(year, month, day)])
    if ref is None:
        return []
    for candidate in _valid([(ref.year, month, day), (ref.year + 1, month, day)]):
        if candidate >= ref - timedelta(days=7):
            return [candidate]
    return []


def _nearest_only(days: list[date], ref: date | None) -> list[date]:
    if ref is None:
        return []
    near = [d for d in days if ref - timedelta(days=7) <= d <= ref + timedelta(days=120)]
    return near if len(near) == 1 else []


# --------------------------------------------------------------------------- bounces

_DAEMON_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|delivery\s+(?:status\s+notification|failure|has\s+failed)|mail\s+delivery\s+failed"
    r"|returned\s+mail|failure\s+notice|could\s+not\s+be\s+delivered|olevererbar|kan\s+inte\s+levereras"
    r"|kunde\s+inte\s+levereras|utebliven\s+leverans|leveransfel|returnerat\s+meddelande",
    re.I,
)
_BOUNCE_BODY_RE = re.compile(
    r"could\s+not\s+be\s+delivered|wasn't\s+able\s+to\s+deliver|was\s+not\s+delivered|delivery\s+(?:to\s+the\s+following"
    r"|has\s+failed)|permanent\s+(?:fatal\s+)?error|user\s+unknown|no\s+mailbox|kunde\s+inte\s+levereras"
    r"|gick\s+inte\s+att\s+leverera|kan\s+inte\s+levereras",
    re.I,
)
_COPY_MARKER_RE = re.compile(
    r"^.{0,20}(?:below\s+this\s+line\s+is\s+a\s+copy|this\s+is\s+a\s+copy\s+of\s+the\s+message|original\s+message\s+follows"
    r"|undelivered\s+message\s+headers|the\s+original\s+message\s+(?:was|headers)|ursprungligt\s+meddelande"
    r"|kopia\s+av\s+meddelandet).*$",
    re.I | re.MULTILINE,
)
_STATUS_RE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def _bounce(msg: Message, from_address: str, from_name: str, subject: str, text: str) -> Bounce | None:
    parts = _walk_parts(msg, into_messages=False)
    reports = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    if reports:
        return _dsn(msg, reports[0])
    local = from_address.partition("@")[0]
    daemon = local in _DAEMON_LOCALS or "mail delivery" in from_name.lower()
    if not daemon or not (_BOUNCE_SUBJECT_RE.search(subject) or _BOUNCE_BODY_RE.search(text)):
        return None
    return _nonstandard(msg, text)


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    value = _WS_RE.sub(" ", str(value)).strip()
    return value or None


def _typed_value(value: str | None) -> str | None:
    """``rfc822; a@b`` → ``a@b``."""
    if value is None:
        return None
    return value.partition(";")[2].strip() if ";" in value else value.strip()


def _dsn(msg: Message, report: Message) -> Bounce:
    blocks = (
        [b for b in report.get_payload() if isinstance(b, Message)]
        if isinstance(report.get_payload(), list)
        else []
    )
    if not blocks:  # a report that was not split into blocks: read it as text
        raw = report.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        chunks = re.split(rb"\r?\n\r?\n", data)
        blocks = [message_from_bytes(c.strip() + b"\n", policy=compat32) for c in chunks if c.strip()]
    mta = _typed_value(_field(blocks[0], "Reporting-MTA")) if blocks else None
    recipients = []
    for block in blocks:
        address = _typed_value(_field(block, "Final-Recipient") or _field(block, "Original-Recipient"))
        if not address:
            continue
        action = (_field(block, "Action") or "failed").lower()
        status = _field(block, "Status")
        sm = _STATUS_RE.search(status or "")
        recipients.append(
            BouncedRecipient(
                address=address.strip("<>").lower(),
                action=action.split()[0],
                status=sm.group(1) if sm else status,
                diagnostic=_typed_value(_field(block, "Diagnostic-Code")),
            )
        )
    return Bounce(
        kind="dsn",
        recipients=tuple(recipients),
        reporting_mta=mta,
        original_message_id=_original_message_id(msg),
    )


def _original_headers(msg: Message, text: str) -> Message | None:
    for part in _walk_parts(msg):
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype == "message/rfc822" and isinstance(payload, list) and payload:
            inner = payload[0]
            if isinstance(inner, Message):
                return inner
        if ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return message_from_bytes(data, policy=compat32)
    m = _COPY_MARKER_RE.search(text)
    if m is not None:
        copy = text[m.end() :].lstrip("\n -")
        return message_from_bytes(copy.encode("utf-8", "replace"), policy=compat32)
    return None


def _original_message_id(msg: Message, text: str = "") -> str | None:
    original = _original_headers(msg, text)
    if original is None:
        return None
    return _first_msgid(_header(original, "Message-ID"))


def _nonstandard(msg: Message, text: str) -> Bounce:
    m = _COPY_MARKER_RE.search(text)
    human = text[: m.start()] if m is not None else text
    original = _original_headers(msg, text)
    ours = (
        set(_addresses(msg, "To"))
        | set(_addresses(msg, "Delivered-To"))
        | set(_addresses(msg, "X-Original-To"))
    )
    sent_to: list[str] = []
    original_from: set[str] = set()
    if original is not None:
        sent_to = [*_addresses(original, "To"), *_addresses(original, "Cc")]
        original_from = set(_addresses(original, "From"))
    mentioned = []
    for am in _EMAIL_RE.finditer(human):
        address = am.group(0).lower().strip(".'")
        local = address.partition("@")[0]
        if address in ours or address in original_from or local in _DAEMON_LOCALS:
            continue
        mentioned.append((address, am.end()))
    chosen = [(a, pos) for a, pos in mentioned if a in sent_to] if sent_to else mentioned
    recipients: dict[str, BouncedRecipient] = {}
    for address, pos in chosen:
        if address in recipients:
            continue
        window = human[pos : pos + 500]
        sm = _STATUS_RE.search(window)
        after = [x.strip() for x in window.split("\n")]
        diagnostic = next(
            (x for x in after if x and re.search(r"\b[45]\d\d\b|#\d\.\d\.\d|unknown|mailbox", x, re.I)), None
        )
        if diagnostic is None:
            diagnostic = next((x for x in after[1:] if x), None)
        recipients[address] = BouncedRecipient(
            address=address, action="failed", status=sm.group(1) if sm else None, diagnostic=diagnostic
        )
    if not recipients:
        for address in sent_to:
            recipients[address] = BouncedRecipient(
                address=address, action="failed", status=None, diagnostic=None
            )
    # The bounce was written where it entered the mail system: the lowest Received header.
    mta = None
    received = msg.get_all("Received") or []
    if received:
        by = re.search(r"\bby\s+([\w.-]+)", str(received[-1]))
        mta = by.group(1) if by else None
    return Bounce(
        kind="non-standard",
        recipients=tuple(recipients.values()),
        reporting_mta=mta,
        original_message_id=_first_msgid(_header(original, "Message-ID")) if original is not None else None,
    )


# --------------------------------------------------------------------------- Authentication-Results

_AUTH_COMMENT_RE = re.compile(r"\([^()]*\)")
_AUTH_RESULT_RE = re.compile(r"^\s*([a-z][a-z0-9_-]*)\s*=\s*([a-z]+)", re.I)


def _authentication(msg: Message, authserv_id: str | None) -> AuthResult:
    headers = msg.get_all("Authentication-Results") or []
    if not headers:
        return NO_AUTH
    value = _WS_RE.sub(" ", str(headers[0]))
    for _ in range(3):  # comments may nest
        value = _AUTH_COMMENT_RE.sub(" ", value)
    parts = [p.strip() for p in value.split(";")]
    server = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    if not server or (authserv_id is not None and server != authserv_id.lower()):
        return NO_AUTH
    results: dict[str, list[str]] = {}
    for part in parts[1:]:
        m = _AUTH_RESULT_RE.match(part)
        if m is not None:
            results.setdefault(m.group(1).lower(), []).append(m.group(2).lower())
    spf = next(iter(results.get("spf", ())), None)
    dkims = results.get("dkim", [])
    dkim = "pass" if "pass" in dkims else next(iter(dkims), None)
    dmarc = next(iter(results.get("dmarc", ())), None)
    failed = dmarc == "fail" or (dkim == "fail" and spf == "fail")
    return AuthResult(authserv_id=server, spf=spf, dkim=dkim, dmarc=dmarc, failed=failed)
