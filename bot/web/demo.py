"""Demo mode only (``assessbot demo``): every captured mail on a local page, and replying to one.

With no SMTP server configured the outbox sender writes each message to the Maildir
``<var_dir>/outbox``. ``/demo/post`` lists those messages (newest first); a message's page
shows its text with clickable links, its HTML part behind a strict sandboxing policy, and
a small form to answer it "by mail": the reply is built as a real mail (From the
recipient, To the Reply-To address, In-Reply-To the message) and goes through the inbound
mail path, exactly as if it had arrived from the coordinator's mail program. These routes
exist only when the app is created with ``demo=True``.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape
from sqlmodel import col, func, select

from bot.db.tables import OutboxMessage
from bot.keys import DB, MODEL, SETTINGS
from bot.web.security import Refused, checked_form, render

_KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_URL = re.compile(r"https?://[^\s<>\"']+")
HTML_CSP = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
)


@dataclass(frozen=True, slots=True)
class Mail:
    key: str
    subject: str
    to: str
    sender: str
    reply_to: str
    date: datetime | None
    message_id: str
    kind: str
    message: EmailMessage


def maildir(request: web.Request) -> Path:
    return Path(request.app[SETTINGS].var_dir) / "outbox"


def _read_all(path: Path) -> list[Mail]:
    if not (path / "new").is_dir():
        return []
    box = mailbox.Maildir(path, factory=None, create=False)
    mails = []
    for key in box.iterkeys():
        msg = BytesParser(policy=policy.default).parsebytes(box.get_bytes(key))
        assert isinstance(msg, EmailMessage)
        mails.append(_mail(key, msg))
    mails.sort(key=lambda m: (m.date.timestamp() if m.date else 0.0, m.key), reverse=True)
    return mails


def _mail(key: str, msg: EmailMessage) -> Mail:
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    return Mail(
        key,
        str(msg["Subject"] or ""),
        str(msg["To"] or ""),
        str(msg["From"] or ""),
        str(msg["Reply-To"] or ""),
        date,
        str(msg["Message-ID"] or ""),
        str(msg["Auto-Submitted"] or ""),
        msg,
    )


def linkify(text: str) -> Markup:
    """Escaped text with every http(s) address made a link."""
    out: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        url = m.group(0).rstrip(".,;)")
        out.append(str(Markup('<a href="{0}">{0}</a>').format(url)))
        out.append(str(escape(m.group(0)[len(url) :])))
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def _parts(msg: EmailMessage) -> tuple[str, bool]:
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    text = text_part.get_content() if isinstance(text_part, EmailMessage) else ""
    return str(text), html_part is not None


async def _find(request: web.Request) -> Mail:
    key = request.match_info["key"]
    if not _KEY.match(key):
        raise Refused(404, "Det finns inget sådant mejl.")
    for mail in await asyncio.to_thread(_read_all, maildir(request)):
        if mail.key == key:
            return mail
    raise Refused(404, "Det finns inget sådant mejl.")


async def post_list(request: web.Request) -> web.StreamResponse:
    mails = await asyncio.to_thread(_read_all, maildir(request))
    async with request.app[DB].transaction(readonly=True) as session:
        waiting = (
            await session.exec(
                select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status) != "sent")
            )
        ).one()
    return render(
        request,
        "demo_post.html.j2",
        {"mails": mails, "waiting": int(waiting or 0), "folder": str(maildir(request))},
    )


async def post_mail(request: web.Request) -> web.StreamResponse:
    mail = await _find(request)
    text, has_html = _parts(mail.message)
    return render(
        request,
        "demo_mail.html.j2",
        {
            "mail": mail,
            "text": linkify(text),
            "has_html": has_html,
            "can_reply": bool(mail.reply_to),
            "sent": request.query.get("svarat"),
        },
    )


async def post_mail_html(request: web.Request) -> web.StreamResponse:
    mail = await _find(request)
    part = mail.message.get_body(preferencelist=("html",))
    if not isinstance(part, EmailMessage):
        raise Refused(404, "Mejlet har ingen HTML-del.")
    response = web.Response(text=str(part.get_content()), content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = HTML_CSP
    return response


def reply_bytes(mail: Mail, body: str) -> bytes:
    """The reply a mail program would send to ``mail``: from its recipient to its Reply-To."""
    reply = EmailMessage()
    reply["From"] = mail.to
    reply["To"] = mail.reply_to
    subject = mail.subject
    reply["Subject"] = subject if subject.lower().startswith(("re:", "sv:")) else f"Sv: {subject}"
    reply["Message-ID"] = make_msgid(domain=parseaddr(mail.to)[1].rpartition("@")[2] or "demo.example")
    if mail.message_id:
        reply["In-Reply-To"] = mail.message_id
        reply["References"] = mail.message_id
    quoted = "\n".join("> " + line for line in _parts(mail.message)[0].splitlines())
    reply.set_content(f"{body.strip()}\n\n{quoted}\n")
    return reply.as_bytes(policy=policy.SMTP)


async def post_reply(request: web.Request) -> web.StreamResponse:
    mail = await _find(request)
    form = await checked_form(request)
    body = str(form.get("svar") or "")
    if not body.strip() or not mail.reply_to:
        raise web.HTTPSeeOther(f"/demo/post/{mail.key}")
    raw = reply_bytes(mail, body[:20_000])
    await ingest(request, raw)
    raise web.HTTPSeeOther(f"/demo/post/{mail.key}?svarat=1")


async def ingest(request: web.Request, raw: bytes) -> Any:
    """Feed a reply into the inbound mail path (``bot.mail.ingest``)."""
    from bot.mail.ingest import Ingestor

    ingestor = Ingestor(request.app[DB], request.app[SETTINGS], request.app[MODEL])
    result = await ingestor.ingest(raw, via="demo")
    _wake()
    return result


def _wake() -> None:
    from bot.mail.sender import wake

    wake()


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/demo/post", post_list)
    app.router.add_get("/demo/post/{key}", post_mail)
    app.router.add_get("/demo/post/{key}/html", post_mail_html)
    app.router.add_post("/demo/post/{key}/svar", post_reply)
