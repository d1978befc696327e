"""Properties of the reply format: what the mails print, the parser reads back; junk never breaks it."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conversations.parsing import AnswerLine, ValidationLine, format_answer, format_validation, parse_reply
from conversations.questionnaire import Model, Question, load_model, parse_model
from scoring.answers import check_options, check_validation_value
from tests.modelgen import model_dict

# Characters str.splitlines() breaks on: a comment is one line, so it holds none of them.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

BUNDLED = load_model()
SYNTHETIC, _problems = parse_model(model_dict())
assert SYNTHETIC is not None and not _problems
MODELS = st.sampled_from([BUNDLED, SYNTHETIC])

comments = st.none() | st.text(
    alphabet=st.characters(blacklist_characters=LINE_BREAKS, blacklist_categories=["Cs"]), max_size=60
)


@st.composite
def choices(draw: st.DrawFn, question: Question) -> list[str]:
    """A choice of options, mostly allowed ones; the test keeps those check_options allows."""
    letters = list(question.letters)
    plain = [o.id for o in question.options if not o.exclusive]
    shape = draw(st.sampled_from(["single", "subset", "slice", "any"]))
    if shape == "single":
        return [draw(st.sampled_from(letters))]
    if shape == "subset":
        chosen = draw(st.lists(st.sampled_from(plain), min_size=1, unique=True))
    elif shape == "slice":
        start = draw(st.integers(0, len(plain) - 1))
        end = draw(st.integers(start + 1, len(plain)))
        chosen = plain[start:end]
    else:
        chosen = draw(st.lists(st.sampled_from(letters), min_size=1, unique=True))
    return draw(st.permutations(chosen))


@settings(derandomize=True, max_examples=600)
@given(data=st.data(), model=MODELS, lang=st.sampled_from(["sv", "en"]))
def test_a_rendered_answer_parses_back(data: st.DataObject, model: Model, lang: str) -> None:
    question = data.draw(st.sampled_from(model.questions))
    chosen = data.draw(choices(question))
    assume(check_options(question, chosen) is None)
    certain = data.draw(st.none() | st.booleans())
    comment = data.draw(comments)
    line = format_answer(question, chosen, certain, comment, lang=lang)
    turn = parse_reply(model, line)
    index = question.letters.index
    expected = AnswerLine(
        question=question.id,
        options=tuple(sorted(chosen, key=index)),
        certain=certain,
        comment=(comment.strip() or None) if comment is not None else None,
        source=line.strip(),
    )
    assert turn.errors == ()
    assert turn.items == (expected,)


@settings(derandomize=True, max_examples=200)
@given(
    data=st.data(),
    model=MODELS,
    lang=st.sampled_from(["sv", "en"]),
    separator=st.sampled_from(["\n", "\r\n", "; "]),
)
def test_several_rendered_answers_parse_back(
    data: st.DataObject, model: Model, lang: str, separator: str
) -> None:
    questions = data.draw(
        st.lists(st.sampled_from(model.questions), min_size=1, max_size=6, unique_by=lambda q: q.id)
    )
    expected = []
    lines = []
    for question in questions:
        chosen = data.draw(choices(question))
        if check_options(question, chosen) is not None:
            continue
        certain = data.draw(st.none() | st.booleans())
        # A comment runs to the end of the line, so only a line of its own may carry one.
        comment = data.draw(comments) if separator != "; " else None
        lines.append(format_answer(question, chosen, certain, comment, lang=lang))
        expected.append((question.id, tuple(sorted(chosen, key=question.letters.index)), certain))
    turn = parse_reply(model, separator.join(lines))
    assert turn.errors == ()
    assert [(i.question, i.options, i.certain) for i in turn.items if isinstance(i, AnswerLine)] == expected


@st.composite
def values(draw: st.DrawFn, model: Model) -> tuple[str, str]:
    vq = draw(st.sampled_from(model.validation_questions))
    if vq.kind == "choice":
        raw = draw(st.sampled_from([o.id for o in vq.options]))
    elif vq.kind == "percent":
        raw = str(draw(st.integers(0, 1000)) / 10)
    else:
        raw = str(draw(st.integers(0, 100_000)))
    normalised, _reason = check_validation_value(vq, raw)
    assert normalised is not None
    return vq.id, normalised


@settings(derandomize=True, max_examples=200)
@given(data=st.data(), model=MODELS, lang=st.sampled_from(["sv", "en"]))
def test_a_rendered_value_parses_back(data: st.DataObject, model: Model, lang: str) -> None:
    vid, value = data.draw(values(model))
    vq = model.validation_question(vid)
    assert vq is not None
    line = format_validation(vq, value, lang=lang)
    assert parse_reply(model, line).items == (ValidationLine(vid, value, line),)


# --------------------------------------------------------------------------- junk

FRAGMENTS = [
    "1.4", "1.1", "V3", "v6", "9.9", "1.16", "5.3.2027", "Fråga", "Question", "a", "b", "c", "g", "z",
    "-", "–", "b-d", "till", "to", "och", "and", ",", "&", ";", "#", "kommentar:", "comment:", "säker",
    "osäker", "sure", "unsure", "bedömning", "(", ")", "[", "]", "nej", "no", "pågår", "hoppa över",
    "skip", "40", "%", "procent", "st", "status", "klar", "skicka in", ">", "> >", " ", "\t", "\u00a0",
    "\n", "\r\n", "\u200b", ":", ".", "Hej", "Anna Andersson", "070 123 45 67",
]  # fmt: skip

grammar_junk = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(" ".join) | st.lists(
    st.sampled_from(FRAGMENTS), max_size=40
).map("".join)


@settings(derandomize=True, max_examples=500)
@given(model=MODELS, text=st.text(max_size=300) | grammar_junk)
def test_junk_never_raises_and_never_invents_a_question(model: Model, text: str) -> None:
    turn = parse_reply(model, text)
    assert turn.language in ("sv", "en")
    folded = text.casefold()
    for item in turn.items:
        if isinstance(item, AnswerLine):
            assert item.question.casefold() in folded
            question = model.question(item.question)
            assert question is not None
            assert check_options(question, item.options) is None
    for error in turn.errors:
        assert error.source
