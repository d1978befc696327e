"""The feedback mail: the report as text and HTML with inline charts, and as a PDF.

MIME structure (what Outlook, Gmail and Apple Mail all show well)::

    multipart/mixed
    ├── multipart/related; type="multipart/alternative"
    │   ├── multipart/alternative
    │   │   ├── text/plain  (complete on its own)
    │   │   └── text/html   (CSS inlined; charts as cid:)
    │   ├── image/png  Content-ID <areas-…>   inline
    │   └── image/png  Content-ID <points-…>  inline
    └── application/pdf  infosakkollen-<organisation>-<cycle>.pdf  attachment

Headers (Message-ID, Date, From, Reply-To that routes a reply such as "skicka in" back to
the response, threading, Auto-Submitted) come from :func:`bot.mail.compose.new_message`.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import EmailMessage, MIMEPart

from bot.db.tables import Response
from bot.feedback.pdf import render_pdf
from bot.feedback.render import RenderedFeedback, draw_charts, render_feedback, render_html, subject
from bot.mail.compose import new_message
from bot.settings import Settings
from conversations.questionnaire import Model
from scoring.feedback import FeedbackFacts


def attachment_name(organisation_name: str, cycle_name: str) -> str:
    """``infosakkollen-<organisation>-<cycle>.pdf`` in lower-case ASCII."""

    def slug(value: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
        return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "x"

    return f"infosakkollen-{slug(organisation_name)}-{slug(cycle_name)}.pdf"


def feedback_documents(
    settings: Settings,
    model: Model,
    facts: FeedbackFacts,
    *,
    organisation_name: str,
    cycle_name: str,
    lang: str,
) -> tuple[RenderedFeedback, bytes]:
    """The mail rendering and the PDF of one report.

    The charts are drawn once: their PNGs go into the mail, their SVGs into the PDF
    (vector graphics print sharply, and WeasyPrint embeds SVG much faster than it
    re-encodes PNG).
    """
    charts = draw_charts(model, facts, lang, svg=True)
    rendered = render_feedback(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang,
        settings=settings, for_mail=True, charts=charts,
    )  # fmt: skip
    print_html, _ = render_html(
        model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang,
        settings=settings, variant="print", charts=rendered.charts,
    )  # fmt: skip
    return rendered, render_pdf(print_html)


def feedback_message(
    settings: Settings,
    model: Model,
    facts: FeedbackFacts,
    *,
    to: str,
    organisation_name: str,
    cycle_name: str,
    lang: str,
    response: Response | None = None,
) -> EmailMessage:
    """The complete feedback mail to ``to`` (one or more addresses, comma-separated)."""
    lang = lang if lang in model.languages else model.default_language
    rendered, pdf = feedback_documents(
        settings, model, facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang
    )
    title = subject(facts, organisation_name=organisation_name, cycle_name=cycle_name, lang=lang)
    alternative = MIMEPart()
    alternative.set_content(rendered.text, subtype="plain", charset="utf-8")
    alternative.add_alternative(rendered.html, subtype="html", charset="utf-8")
    related = MIMEPart()
    related.make_related()
    related.set_param("type", "multipart/alternative")  # RFC 2387: the type of the root part
    related.attach(alternative)
    for cid, png in rendered.images.items():
        image = MIMEPart()
        name = cid.split("-", 1)[0] + ".png"
        image.set_content(
            png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline", filename=name
        )
        related.attach(image)
    msg = new_message(settings, to=to, subject=title, lang=lang, response=response)
    msg.set_type("multipart/mixed")  # adds MIME-Version too
    msg.set_payload([related])
    msg.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=attachment_name(organisation_name, cycle_name)
    )
    return msg
