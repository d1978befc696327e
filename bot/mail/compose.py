"""Composing mail: headers done right, and the section mail.

Every message has Message-ID, Date, From, a Reply-To that routes answers back to the
response (``svar+TOKEN@reply-domain``), threading headers (In-Reply-To/References to the
response's first mail) and ``Auto-Submitted`` on automatic mail. Bodies come from the
templates in ``mail_templates``; Swedish unless the contact prefers English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

import jinja2

from bot.db.tables import Contact, Cycle, Organisation, Response, now
from bot.i18n import environment, format_date, gettext
from bot.mail.render import render_markdown_template, set_bodies
from bot.settings import Settings
from bot.tokens import reply_token
from conversations.parsing import example_line, format_answer, format_validation
from conversations.questionnaire import Model
from conversations.state import AnswerRecord

_text = environment(jinja2.PackageLoader("mail_templates", "."), html=False)


def reply_address(settings: Settings, response_id: int) -> str:
    return f"svar+{reply_token(settings.secret(), response_id)}@{settings.reply_domain}"


def message_id(settings: Settings) -> str:
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or settings.reply_domain
    return make_msgid(domain=domain)


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
    msg = EmailMessage()
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
    first = model.question(ids[0]) or model.validation_question(ids[0])
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
