"""A receipt's text and Markdown rendered in pieces say what rendering the whole says.

``bot.replies_text.render_replies`` renders the recorded and refused lines apart from the
rest (progress, notes, commands) and joins them; the text must be what the one-piece
rendering (``render_replies_text``, also the command line's) writes, and the Markdown must
show the rest as that text.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.render import md_escape, render_markdown_template
from bot.replies_text import _context, render_replies, render_replies_text
from conversations.progress import Progress
from conversations.questionnaire import Model, load_model
from conversations.replies import StatusReport
from tests.engineturns import COORDINATOR, COORDINATOR_EN, play

MODEL = load_model()
COMMANDS = ["status", "hjälp", "nästa", "klar", "skicka in", "ångra inskick", "pausa", "bla bla"]


def _lines(model: Model) -> st.SearchStrategy[str]:
    question = st.sampled_from([q.id for q in model.questions] + ["9.9", "x"])
    letters = st.lists(st.sampled_from(list("abcdefz")), min_size=0, max_size=3)
    tail = st.sampled_from(["säker", "osäker", "", "säker # en kommentar", "hoppa över"])
    line = st.builds(lambda q, ls, t: " ".join([q, *ls, t]).strip(), question, letters, tail)
    return st.lists(line | st.sampled_from(COMMANDS), min_size=1, max_size=6).map("\n".join)


def _whole_markdown(model: Model, replies: list, lang: str) -> str:
    """The Markdown rendered from the whole list, the rest as one-piece text."""
    heads = ("Recorded", "ValueRecorded", "Skipped", "Invalid")
    rest = [r for r in replies if type(r).__name__ not in heads]
    text_rest = render_replies_text(model, rest, lang, authority="MCF", status="in_progress").strip()
    return render_markdown_template(
        "replies.md.j2",
        **_context(model, replies, lang, "MCF", "in_progress", md_escape),
        text_rest=text_rest if rest else "",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_lines(MODEL), min_size=1, max_size=3), st.booleans(), st.booleans())
def test_pieces_join_to_the_whole(texts: list[str], english: bool, with_status: bool) -> None:
    actor = COORDINATOR_EN if english else COORDINATOR
    result = play(MODEL, texts, actor)
    lang = result.language
    replies = list(result.replies)
    if with_status:
        progress = Progress(MODEL, result.state.answers)
        replies.append(
            StatusReport(
                result.state.status,
                progress.sections(),
                progress.answered_count(),
                len(MODEL.questions),
                progress.remaining(),
            )
        )
    text, markdown = render_replies(MODEL, replies, lang, authority="MCF", status="in_progress")
    assert text == render_replies_text(MODEL, replies, lang, authority="MCF", status="in_progress")
    assert markdown == _whole_markdown(MODEL, replies, lang)


def test_a_receipt_says_what_was_recorded_refused_and_what_remains() -> None:
    result = play(MODEL, ["1.1 a säker\n9.9 b\nstatus"])
    text, markdown = render_replies(
        MODEL, list(result.replies), result.language, authority="MCF", status="in_progress"
    )
    assert text.index("Registrerat") < text.index("Rader som inte kunde användas") < text.index("Status")
    assert "Det finns ingen fråga 9.9." in text and "Det finns ingen fråga 9\\.9" in markdown
    assert "## Registrerat" in markdown and "Status" in markdown
    title = MODEL.question("1.1").text.get("sv")  # type: ignore[union-attr]
    option = MODEL.question("1.1").option("a").text.get("sv")  # type: ignore[union-attr]
    assert f"  1.1 {title}\n    → a) {option}\n" in text
    assert f"- **1.1** {md_escape(title)}  \n  a) {md_escape(option)}  \n" in markdown
