"""The mail of the national cycle: launch letter, reminders, escalation, appointment, reopening.

Rendered from ``mail_templates/cycle.txt.j2`` (text) and ``cycle.md.j2`` (the HTML part),
in the recipient's language. Reminders say what remains (sections and questions), the
deadline as a date in the reader's language and how many days are left, link to the web
chat and tell how to pause (``pausa``). Mail to coordinators is answered through the
response's reply address (``svar+TOKEN@``); mail to management asks for a coordinator and
is answered through the organisation's appointment address (``utse+TOKEN@``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr
from functools import cache

import jinja2

from bot.db.tables import Contact, Cycle, Organisation, Response
from bot.i18n import environment, format_date, gettext, ngettext
from bot.mail.compose import new_message
from bot.mail.render import render_markdown_template, set_bodies
from bot.settings import Settings
from bot.tokens import signed_token
from conversations.parsing import example_line
from conversations.questionnaire import Model

SERVICE = "Infosäkkollen"
APPOINT_EXAMPLE = {
    "sv": "Samordnare: anna.andersson@exempel.se",
    "en": "Coordinator: anna.andersson@example.org",
}

_SUBJECTS = {
    "launch": "%(service)s %(cycle)s: utse en samordnare för %(org)s",
    "appoint": "Påminnelse: utse en samordnare för %(org)s (%(service)s %(cycle)s)",
    "deadline": "Påminnelse: %(service)s %(cycle)s för %(org)s, sista svarsdag %(date)s",
    "inactivity": "%(service)s %(cycle)s: %(org)s har frågor kvar",
    "escalation": "%(service)s %(cycle)s: svaret för %(org)s är inte klart",
    "appointed": "%(coordinator)s är samordnare för %(org)s",
    "appoint_unclear": "Vem ska samordna uppföljningen för %(org)s?",
    "appoint_refused": "Ditt meddelande registrerades inte",
    "paused": "Inga fler påminnelser",
    "reopened": "%(service)s %(cycle)s: svaret för %(org)s är öppnat igen",
}
_ANSWERS = frozenset({"appointed", "appoint_unclear", "appoint_refused", "paused"})
MANAGEMENT_KINDS = frozenset({"launch", "appoint", "escalation", "appointed", "appoint_unclear", "paused"})


@cache
def _text() -> jinja2.Environment:
    return environment(jinja2.PackageLoader("mail_templates", "."), html=False)


@dataclass(frozen=True, slots=True)
class SectionLeft:
    title: str
    open: int
    total: int


def appoint_address(settings: Settings, organisation_id: int) -> str:
    """The address management answers to with the coordinator's address."""
    return f"utse+{signed_token(settings.secret(), 'appoint', organisation_id)}@{settings.reply_domain}"


def sections_left(model: Model, answered: Collection[str], lang: str) -> list[SectionLeft]:
    """The level sections with unanswered questions, in order."""
    level = {q.id for q in model.questions}
    out = []
    for s in model.sections:
        ids = [q for q in s.questions if q in level]
        open_ = sum(1 for q in ids if q not in answered)
        if ids and open_:
            out.append(SectionLeft(s.title.get(lang), open_, len(ids)))
    return out


def days_left_text(lang: str, deadline: date, today: date) -> str:
    days = (deadline - today).days
    if days <= 0:
        return gettext(lang, "i dag")
    return ngettext(lang, "om %(num)s dag", "om %(num)s dagar", days)


def cycle_message(
    settings: Settings,
    model: Model,
    kind: str,
    *,
    contact: Contact,
    organisation: Organisation,
    cycle: Cycle,
    today: date,
    response: Response | None = None,
    answered: Collection[str] = (),
    coordinators: Sequence[str] = (),
    coordinator: str = "",
    until: date | None = None,
    weeks: int = 0,
    started: bool | None = None,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """A mail of ``kind`` to ``contact``, every header set, text and HTML."""
    lang = contact.language if contact.language in model.languages else model.default_language
    deadline = format_date(cycle.deadline, lang)
    subject = gettext(
        lang,
        _SUBJECTS[kind],
        service=gettext(lang, SERVICE),
        cycle=cycle.name,
        org=organisation.name,
        date=deadline,
        coordinator=coordinator,
    )
    to_management = kind in MANAGEMENT_KINDS
    msg = new_message(
        settings,
        to=contact.email,
        subject=subject,
        lang=lang,
        response=None if to_management else response,
        auto="auto-replied" if kind in _ANSWERS else "auto-generated",
        in_reply_to=in_reply_to,
    )
    if to_management and organisation.id is not None:
        msg["Reply-To"] = formataddr((settings.authority_name, appoint_address(settings, organisation.id)))
    first = model.question(model.sections[0].questions[0]) if model.sections else None
    left = sections_left(model, answered, lang)
    level_count = len(model.questions)
    context = {
        "kind": kind,
        "lang": lang,
        "authority": settings.authority_name,
        "org": organisation.name,
        "cycle": cycle.name,
        "deadline": deadline,
        "days_left": days_left_text(lang, cycle.deadline, today),
        "sections": left,
        "questions_left": sum(s.open for s in left) if answered else level_count,
        "started": bool(answered) if started is None else started,
        "url": settings.base_url.rstrip("/") + "/",
        "weeks": weeks,
        "coordinators": ", ".join(coordinators),
        "coordinator": coordinator,
        "until": format_date(until, lang) if until is not None else "",
        "example": APPOINT_EXAMPLE.get(lang, APPOINT_EXAMPLE["sv"])
        if kind in ("launch", "appoint", "appoint_unclear")
        else (example_line(first, lang) if first is not None else "1.1 a säker"),
    }
    text = _text().get_template("cycle.txt.j2").render(context)
    markdown_text = render_markdown_template("cycle.md.j2", **context)
    set_bodies(msg, text, markdown_text, lang=lang, title=subject)
    return msg
