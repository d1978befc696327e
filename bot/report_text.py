"""The readable text report of one score result (``assessbot score --format text``)."""

from __future__ import annotations

import jinja2

from conversations.questionnaire import Model
from scoring.result import ScoreResult

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("mail_templates", "."),
    autoescape=False,  # plain text for a terminal; nothing here is HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def render_score_text(model: Model, result: ScoreResult, lang: str = "sv") -> str:
    """Render the report in ``lang`` ("sv" or "en")."""
    template = _env.get_template(f"score_report.{lang}.txt.j2")
    return template.render(model=model, r=result, lang=lang)
