"""The replies of a turn as plain text (receipt mails, the command line)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jinja2

from bot.i18n import environment, gettext
from conversations.questionnaire import Model
from conversations.replies import Invalid, Reply

_env = environment(jinja2.PackageLoader("mail_templates", "."), html=False)
_env.tests["reply"] = lambda obj, *names: type(obj).__name__ in names

STATUS_NAMES = {
    "invited": "inbjuden",
    "in_progress": "påbörjad",
    "completed": "klar",
    "submitted": "inskickad",
    "closed": "stängd",
}


def explain(error: Invalid, model: Model, lang: str) -> str:
    """Why a line could not be used, in plain words naming the question and the option."""
    q = error.question or ""
    o = error.option or ""
    question = model.question(q) if q else None
    letters = ", ".join(question.letters) if question else ""
    texts = {
        "unknown_question": gettext(lang, "Det finns ingen fråga %(q)s.", q=q),
        "missing_question": gettext(lang, "Raden saknar frågans nummer. Skriv numret först på raden."),
        "unknown_option": gettext(
            lang,
            "Fråga %(q)s har inget svarsalternativ %(o)s (alternativen är %(letters)s).",
            q=q,
            o=o,
            letters=letters,
        )
        if question
        else gettext(lang, "”%(o)s” är inget svar på fråga %(q)s.", q=q, o=o),
        "no_options": gettext(lang, "Inget svarsalternativ angavs för fråga %(q)s.", q=q),
        "exclusive_combined": gettext(
            lang,
            "På fråga %(q)s kan %(o)s inte kombineras med andra alternativ (här %(other)s).",
            q=q,
            o=o,
            other=error.other or "",
        ),
        "not_adjacent": gettext(
            lang,
            "På fråga %(q)s går det bara att välja alternativ som ligger intill varandra; %(o)s och %(other)s gör inte det.",
            q=q,
            o=o,
            other=error.other or "",
        ),
        "duplicate_option": gettext(lang, "Alternativ %(o)s står två gånger för fråga %(q)s.", q=q, o=o),
        "range_not_allowed": gettext(
            lang, "Fråga %(q)s tar ett enda svar, inte flera eller ett intervall.", q=q
        ),
        "bad_value": gettext(lang, "Värdet ”%(o)s” passar inte fråga %(q)s.", q=q, o=o),
        "conflicting_certainty": gettext(lang, "Raden för fråga %(q)s säger både säker och osäker.", q=q),
    }
    return texts.get(error.kind, gettext(lang, "Raden kunde inte läsas."))


_RECORDED = ("Recorded", "ValueRecorded", "Skipped")
_HEAD = frozenset({*_RECORDED, "Invalid"})  # what the text shows before the rest


def render_replies_text(
    model: Model, replies: Sequence[Reply], lang: str, *, authority: str, status: str = ""
) -> str:
    """Render a turn's replies as text in ``lang``."""
    return (
        _env.get_template("replies.txt.j2").render(_context(model, replies, lang, authority, status)).strip()
        + "\n"
    )


def render_replies(
    model: Model, replies: Sequence[Reply], lang: str, *, authority: str, status: str = ""
) -> tuple[str, str]:
    """A turn's replies as text and as Markdown (a receipt's two parts), each part of the
    text rendered once: what was recorded or refused, and the rest (progress, notes), which
    the Markdown shows as text."""
    from bot.mail.render import md_escape, render_markdown_template

    text = _env.get_template("replies.txt.j2")
    head = [r for r in replies if type(r).__name__ in _HEAD]
    rest = [r for r in replies if type(r).__name__ not in _HEAD]
    # the text template writes the recorded and refused lines, then the rest: rendered
    # apart, the two pieces join to the whole
    text_head = text.render(_context(model, head, lang, authority, status)) if head else ""
    text_rest = text.render(_context(model, rest, lang, authority, status)) if rest else ""
    markdown = render_markdown_template(
        "replies.md.j2",
        **_context(model, head, lang, authority, status, md_escape),
        text_rest=text_rest.strip(),
    )
    return (text_head + text_rest).strip() + "\n", markdown


def _context(
    model: Model,
    replies: Sequence[Reply],
    lang: str,
    authority: str,
    status: str,
    escape: Callable[[str], str] = str,
) -> dict[str, Any]:
    """What the replies templates use; ``escape`` is applied to model text (Markdown)."""

    def section_title(section_id: str) -> str:
        for s in model.sections:
            if s.id == section_id:
                return s.title.get(lang)
        return section_id

    def qtext(qid: str) -> str:
        q = model.any_question(qid)
        return f"{qid} {q.text.get(lang)}" if q else qid

    def qtitle(qid: str) -> str:
        q = model.any_question(qid)
        return f"**{qid}** {escape(q.text.get(lang))}" if q else f"**{qid}**"

    def option_list(qid: str, letters: Sequence[str]) -> str:
        q = model.question(qid)
        assert q is not None
        texts = ((letter, q.option(letter)) for letter in letters)
        return "; ".join(f"{letter}) {escape(o.text.get(lang) if o else '')}" for letter, o in texts)

    def level_name(level: int) -> str:
        if level == 0:
            return gettext(lang, "under nivå 1")
        return model.level(level).name.get(lang)

    return {
        "model": model,
        "lang": lang,
        "replies": replies,
        "recorded": [r for r in replies if type(r).__name__ in _RECORDED],
        "invalid": [r for r in replies if type(r).__name__ == "Invalid"],
        "status": status,
        "authority": authority,
        "explain": lambda e: explain(e, model, lang),
        "section_title": section_title,
        "qtext": qtext,
        "qtitle": qtitle,
        "option_list": option_list,
        "level_name": level_name,
        "status_name": lambda s: gettext(lang, STATUS_NAMES.get(s) or s),
    }
