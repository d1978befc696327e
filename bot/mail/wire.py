"""A composed message as the bytes that go on the wire (SMTP line endings).

``email.generator`` serialises a message by parsing each part's Content-Type again and
folding each header again; for the mail this service composes (every header value already
folded by :class:`bot.mail.compose.MailPolicy`, text parts with their transfer encoding
applied, our own boundaries) that work gives nothing new. :func:`wire_bytes` writes such a
message directly, and hands anything else — a header kept as an object, a line that the
standard policy would refold, a preamble, a ``message/*`` part, a missing boundary, a
character the generator would have to encode — to the standard generator. Either way the
bytes are those of ``message.as_bytes(policy=SMTP_POLICY)``; ``tests/test_mail_wire.py``
compares the two.
"""

from __future__ import annotations

import re
from email.message import Message

from bot.mail.compose import SMTP_POLICY

_NL = "\r\n"
_NLCRE = re.compile(r"\r\n|\r|\n")
_BOUNDARY = re.compile(r';\s*boundary="([^"\\\r\n]+)"\s*(?:;|$)', re.IGNORECASE)
_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


class _Unusual(Exception):
    """Not the plain shape this module writes: let the standard generator do it."""


def wire_bytes(message: Message) -> bytes:
    """``message.as_bytes(policy=SMTP_POLICY)``, written directly when it has the plain shape."""
    if not isinstance(message, Message):  # a stand-in that serialises itself
        return message.as_bytes(policy=SMTP_POLICY)
    out: list[str] = []
    try:
        _part(message, out)
        return "".join(out).encode("ascii", "surrogateescape")
    except (_Unusual, UnicodeEncodeError):
        return message.as_bytes(policy=SMTP_POLICY)


def _part(part: Message, out: list[str]) -> None:
    if part.preamble is not None or part.epilogue is not None:
        raise _Unusual
    content_type = None
    maxlen = SMTP_POLICY.max_line_length or 78
    for name, value in part.raw_items():
        if type(value) is not str:
            raise _Unusual  # a header object: the standard policy folds it
        lines = value.splitlines()
        if (lines and len(lines[0]) + len(name) + 2 > maxlen) or any(len(x) > maxlen for x in lines[1:]):
            raise _Unusual  # the standard policy would refold it
        out.append(f"{name}: {_NL.join(lines)}{_NL}")
        if name.lower() == "content-type":
            content_type = value
    out.append(_NL)
    if content_type is None:
        raise _Unusual  # the default type depends on the parent
    ctype = content_type.partition(";")[0].strip().lower()
    if _TYPE.fullmatch(ctype) is None:
        raise _Unusual  # the standard generator reads it as text/plain
    maintype = ctype.partition("/")[0]
    payload = part._payload  # type: ignore[attr-defined]
    if maintype == "multipart":
        unfolded = content_type.replace("\n", "")
        match = _BOUNDARY.search(unfolded)
        if (
            match is None
            or unfolded.lower().count("boundary=") != 1
            or not isinstance(payload, list)
            or not payload
        ):
            raise _Unusual
        boundary = match.group(1)
        out.append(f"--{boundary}{_NL}")
        for i, sub in enumerate(payload):
            if i:
                out.append(f"{_NL}--{boundary}{_NL}")
            _part(sub, out)
        out.append(f"{_NL}--{boundary}--{_NL}")
    elif maintype != "message":
        if not isinstance(payload, str):
            raise _Unusual
        if payload:
            lines = _NLCRE.split(payload)
            out.append(_NL.join(lines[:-1]) + (_NL if len(lines) > 1 else "") + lines[-1])
    else:
        raise _Unusual
