"""Reads a coordinator's reply — a mail body or a chat message — into answer lines.

This module keeps the promise of ``shared/spec/reply-format.md``: it turns the text of one
turn into values (:class:`AnswerLine`, :class:`SkipLine`, :class:`ValidationLine`,
:class:`CommandLine`), the lines it could not use (:class:`LineError`, each with an
example of a correct line) and things worth telling the user (:class:`Notice`). It also
renders lines in the same format (:func:`format_answer`, :func:`format_validation`,
:func:`example_line`), so that what the mails print is what the parser reads. Pure: no
I/O, no async; the rules for which options may go together live in
:mod:`scoring.answers` and are only called from here.

Theory of operation
-------------------
The text is read line by line (any line break; non-breaking spaces and tabs count as
spaces, zero-width characters are dropped). Each line is one of:

1. **blank** – ignored.
2. **quoted** (starts with ``>`` at any depth) – never an answer. It may set the
   *current question*: a quoted line that starts with a known question id
   (``> 1.4 Har …``), or a run of quoted lines whose text starts like a question's text
   (sv or en, compared after folding case and whitespace, over at least 40 characters
   or as many as it takes to tell the question from every other one).
3. **a command** – the whole line is ``status``, ``hjälp``/``help``, ``nästa``/``next``,
   ``klar``/``färdig``/``done``, ``skicka in``/``submit``, ``ångra inskick``/``återkalla``/
   ``withdraw`` or ``pausa``/``pause`` (any case,
   trailing punctuation allowed).
4. **answers** – everything else. A comment starts at the first ``#``, ``kommentar:`` or
   ``comment:`` and runs to the end of the line (so it may contain ``;`` and ``#``); it
   belongs to the last answer on the line. The part before it is split on ``;`` and each
   part is read on its own:

   ``[Fråga|Question] <id>[:.)-] <tokens>``. An *id token* is ``N.M`` or ``Vn`` followed
   by whitespace, ``:``, ``)``, ``-``, a ``.`` that is not followed by a digit, or the end
   (so dates such as ``5.3.2027`` are not ids). An id with nothing after it is an unfilled
   line of the answer block and is ignored. A known id with anything after it is an
   answer attempt: it is recorded or reported. An unknown id is reported only when what
   follows looks like an answer (``1.16 a c säker``) and is otherwise prose
   (``12.5 miljoner``).

   Tokens are separated by whitespace, ``,``, ``&``, ``och``/``and``; brackets are
   ignored, so ``(säker)`` and ``a)`` read as ``säker`` and ``a``. A token is an option
   letter (any case), a range ``b-d`` (also ``–``, ``—``, ``b - d``, ``b till d``,
   ``b to d``: every option from ``b`` to ``d`` in display order), an exclusive option's
   keyword (``nej``, ``no``, ``pågår`` …, also without diacritics), or a certainty word
   (``säker``/``osäker``/``saker``/``osaker``/``sure``/``unsure``/``certain``/``uncertain``,
   optionally followed by ``bedömning``/``assessment``). ``hoppa över``/``skip`` alone
   skips the question. Validation questions (``V3``) take one value – a number, a
   percentage (``40 %``, ``40%``, ``40 procent``) or one option letter – normalised by
   :func:`scoring.answers.check_validation_value`; certainty words are ignored there.

   A part without an id answers the current question when one is set (by a quoted
   question above it, by the ``current_question`` argument, or by an unquoted line that
   repeats a question's text, as Outlook does when it quotes without ``>``; the option
   lines printed under such an unquoted question, ``a) <option text>``, are skipped) and the part
   looks like an answer: its first token and more than half of its tokens are answer
   tokens. The first such answer uses the current question up; later lines need an id
   again. Other lines without an id are prose and are ignored, except a line made only of
   answer tokens, which is reported as ``missing_question``. A line that is only a
   comment right after an answer line adds the comment to that answer.

A line that cannot be used changes nothing and is reported; the good lines of the same
turn still count. When a turn answers a question twice the later line wins and a
:class:`Notice` says so (identical repeats are silent). The turn's language is guessed
from the words used (certainty words, keywords, ``och``/``and``, greetings), falling back
to ``default_language``; it chooses the language of the examples in errors.

The per-model tables (ids, keyword maps, question-text prefixes) are built once per model
object and cached while the model lives.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

from conversations.questionnaire import Model, Question, ValidationQuestion
from scoring.answers import check_options, check_validation_value

__all__ = [
    "AnswerLine",
    "CommandLine",
    "CommandName",
    "ErrorKind",
    "Item",
    "LineError",
    "Notice",
    "ParsedTurn",
    "SkipLine",
    "ValidationLine",
    "example_line",
    "format_answer",
    "format_validation",
    "parse_reply",
]

CommandName = Literal["status", "help", "next", "done", "submit", "withdraw", "pause"]
ErrorKind = Literal[
    "unknown_question",
    "missing_question",
    "unknown_option",
    "no_options",
    "exclusive_combined",
    "not_adjacent",
    "duplicate_option",
    "range_not_allowed",
    "bad_value",
    "conflicting_certainty",
]


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class AnswerLine:
    """A usable answer to a level-grounding question.

    ``options`` are canonical lower-case letters in display order; ``certain`` is None
    when no certainty was given (recorded as uncertain; the receipt says so).
    """

    question: str
    options: tuple[str, ...]
    certain: bool | None
    comment: str | None
    source: str


@dataclass(frozen=True, slots=True)
class SkipLine:
    """``1.4 hoppa över`` / ``1.4 skip``: the question is left unanswered on purpose."""

    question: str
    source: str


@dataclass(frozen=True, slots=True)
class ValidationLine:
    """A value for a validation question, normalised by ``check_validation_value``."""

    question: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class CommandLine:
    """A line that is only a command word."""

    command: CommandName
    source: str


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that could not be used, why, and a correct line for that question.

    ``option``/``other`` name what was wrong (the unknown word, the exclusive option and
    the one it was combined with, the two non-adjacent options, the two certainty words,
    the value that is not valid); ``example`` is in the turn's language.
    """

    source: str
    question: str | None
    kind: ErrorKind
    option: str | None
    other: str | None
    example: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth saying about a line that was used.

    Kinds: ``replaced_in_same_turn`` (a later line of the turn answered the question
    again; ``source`` is the line that counts), ``comment_ignored`` (a comment on a skip or
    validation line, which keep no comment), ``answer_in_comment`` (the comment contains
    ``; <id> …``, which was kept as comment text and not read as an answer).
    """

    kind: str
    question: str
    source: str


Item: TypeAlias = AnswerLine | SkipLine | ValidationLine | CommandLine


@dataclass(frozen=True, slots=True)
class ParsedTurn:
    """Everything read from one turn. ``language`` is ``"sv"`` or ``"en"``."""

    items: tuple[Item, ...]
    errors: tuple[LineError, ...]
    notices: tuple[Notice, ...]
    language: str


# --------------------------------------------------------------------------- vocabulary

_COMMANDS: dict[str, CommandName] = {
    "status": "status",
    "hjälp": "help",
    "hjalp": "help",
    "help": "help",
    "nästa": "next",
    "nasta": "next",
    "next": "next",
    "klar": "done",
    "färdig": "done",
    "fardig": "done",
    "done": "done",
    "skicka in": "submit",
    "submit": "submit",
    "ångra inskick": "withdraw",
    "angra inskick": "withdraw",
    "återkalla": "withdraw",
    "aterkalla": "withdraw",
    "withdraw": "withdraw",
    "pausa": "pause",
    "pause": "pause",
}
_CERTAINTY: dict[str, bool] = {
    "säker": True,
    "saker": True,
    "sure": True,
    "certain": True,
    "osäker": False,
    "osaker": False,
    "unsure": False,
    "uncertain": False,
}
_CERTAINTY_FILLERS = frozenset({"bedömning", "bedomning", "assessment"})
_CONNECTORS = frozenset({"och", "and"})
_RANGE_WORDS = frozenset({"-", "–", "—", "till", "to"})
_SKIP_FORMS = frozenset({("skip",), ("hoppa", "över"), ("hoppa", "over")})
_SKIP_WORDS = frozenset({"skip", "hoppa", "över", "over"})
_VALUE_FILLERS = frozenset(
    {"%", "procent", "percent", "st", "stycken", "pcs", "ca", "cirka", "ungefär", "about", "approx"}
)
_CERTAINTY_WORDS: dict[str, tuple[str, str]] = {"sv": ("säker", "osäker"), "en": ("sure", "unsure")}

# Words that tell the turn's language. Keywords of the model are added per model.
_SV_WORDS = frozenset(
    {
        "säker", "osäker", "saker", "osaker", "bedömning", "bedomning", "och", "till", "hoppa",
        "över", "kommentar", "fråga", "fraga", "procent", "stycken", "hjälp", "hjalp", "nästa",
        "nasta", "klar", "färdig", "fardig", "skicka", "pausa", "hej", "tack", "hälsningar",
        "vänliga", "mvh", "cirka", "ungefär", "jag", "vi", "är", "inte", "har", "det", "att",
    }
)  # fmt: skip
_EN_WORDS = frozenset(
    {
        "sure", "unsure", "certain", "uncertain", "assessment", "and", "to", "skip", "comment",
        "question", "percent", "pcs", "help", "next", "done", "submit", "pause", "hi", "hello",
        "dear", "thanks", "thank", "regards", "best", "kind", "about", "we", "is", "not", "have",
        "the", "of",
    }
)  # fmt: skip

# --------------------------------------------------------------------------- patterns

_ID = r"(?:(?:fråga|fraga|question)\s*)?([1-9][0-9]?\.[0-9]{1,2}|v[0-9]{1,2})(?=[\s:)\-–—]|\.(?!\d)|$)"
_ID_RE = re.compile(_ID, re.IGNORECASE)
_ANSWER_IN_COMMENT_RE = re.compile(r";\s*" + _ID, re.IGNORECASE)
_COMMENT_RE = re.compile(r"#|\b(?:kommentar|comment)\s*:", re.IGNORECASE)
_QUOTE_RE = re.compile(r"(?:>\s*)+")
_BULLET_RE = re.compile(r"[*•·\-–]\s+")
_SPLIT_RE = re.compile(r"[\s,&()\[\]{}]+")
_RANGE_TOKEN_RE = re.compile(r"([a-z])[-–—]([a-z])")
_NUMBER_RE = re.compile(r"[0-9][0-9.,]*%?")
_WORD_RE = re.compile(r"[^\W\d_]+")
_OPTION_LINE_RE = re.compile(r"([a-z])[).]\s+(.+)")
_COMMAND_TRIM = " \t.!?:;,"
_TOKEN_TRIM = ".!?:;\"'"
_VALUE_TRIM = "()[]{}.!?:;\"'"
_ID_SEPARATORS = ":.)-–—"
_INVISIBLE = str.maketrans(dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_TEXT_MATCH_CHARS = 40
_OPTION_MATCH_CHARS = 30
_WINDOW_LINES = 6


def _fold(word: str) -> str:
    """``pågår`` → ``pagar``: the word as typed on a keyboard without Swedish letters."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _norm(text: str) -> str:
    """Fold case, markdown emphasis and whitespace for comparing texts."""
    return " ".join(text.lower().replace("*", "").split())


# --------------------------------------------------------------------------- per-model tables


@dataclass(frozen=True, slots=True)
class _QInfo:
    question: Question
    index: Mapping[str, int]
    words: Mapping[str, str]  # keyword (every language, folded too) -> letter
    heads: tuple[str, ...]  # normalised starts of the question's texts
    option_heads: Mapping[str, tuple[str, ...]]  # letter -> normalised starts of option texts


@dataclass(frozen=True, slots=True)
class _VInfo:
    question: ValidationQuestion
    letters: frozenset[str]
    fillers: frozenset[str]
    heads: tuple[str, ...]
    option_heads: Mapping[str, tuple[str, ...]]


_Info: TypeAlias = _QInfo | _VInfo


@dataclass(frozen=True, slots=True)
class _Tables:
    by_id: Mapping[str, _Info]  # lower-case id -> info
    keywords: frozenset[str]  # every keyword of the model, folded too
    sv_words: frozenset[str]
    en_words: frozenset[str]
    prefixes: Mapping[str, tuple[tuple[str, str], ...]]  # first 4 chars -> (text prefix, lower id)
    short_prefixes: tuple[tuple[str, str], ...]  # prefixes shorter than 4 characters
    first_question: Question | None
    first_validation: ValidationQuestion | None


def _lcp(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _heads(texts: Mapping[str, str], chars: int) -> tuple[str, ...]:
    out = []
    for value in texts.values():
        n = _norm(value)
        if n:
            out.append(n[: min(len(n), chars)])
    return tuple(dict.fromkeys(out))


def _build_tables(model: Model) -> _Tables:
    by_id: dict[str, _Info] = {}
    keywords: set[str] = set()
    sv_words, en_words = set(_SV_WORDS), set(_EN_WORDS)
    reserved = set(_CERTAINTY) | _CERTAINTY_FILLERS | _CONNECTORS | _RANGE_WORDS | _SKIP_WORDS
    for q in model.questions:
        words: dict[str, str] = {}
        for opt in q.options:
            for lang, word in opt.keyword.values.items():
                w = word.lower()
                words[w] = opt.id
                (sv_words if lang == "sv" else en_words).add(w)
        for w, letter in list(words.items()):
            folded = _fold(w)
            if folded not in words and folded not in reserved:
                words[folded] = letter
        keywords.update(words)
        by_id[q.id.lower()] = _QInfo(
            question=q,
            index={o.id: i for i, o in enumerate(q.options)},
            words=words,
            heads=_heads(q.text.values, _TEXT_MATCH_CHARS),
            option_heads={o.id: _heads(o.text.values, _OPTION_MATCH_CHARS) for o in q.options},
        )
    for vq in model.validation_questions:
        fillers = set(_VALUE_FILLERS)
        fillers.update(u.lower() for u in vq.unit.values.values())
        by_id[vq.id.lower()] = _VInfo(
            question=vq,
            letters=frozenset(o.id for o in vq.options),
            fillers=frozenset(fillers),
            heads=_heads(vq.text.values, _TEXT_MATCH_CHARS),
            option_heads={o.id: _heads(o.text.values, _OPTION_MATCH_CHARS) for o in vq.options},
        )
    # A quoted text names a question when it starts with the first 40 characters of the
    # question's text, or with as many as it takes to tell it from every other question.
    named: list[tuple[str, Mapping[str, str]]] = [(q.id, q.text.values) for q in model.questions]
    named.extend((v.id, v.text.values) for v in model.validation_questions)
    texts = [(_norm(t), qid.lower()) for qid, values in named for t in values.values()]
    prefixes: dict[str, list[tuple[str, str]]] = {}
    short: list[tuple[str, str]] = []
    for text, qid in texts:
        if not text:
            continue
        unique = 1 + max((_lcp(text, other) for other, oid in texts if oid != qid), default=0)
        prefix = text[: min(len(text), max(_TEXT_MATCH_CHARS, unique))]
        if len(prefix) < 4:
            short.append((prefix, qid))
        else:
            prefixes.setdefault(prefix[:4], []).append((prefix, qid))
    return _Tables(
        by_id=by_id,
        keywords=frozenset(keywords),
        sv_words=frozenset(sv_words - en_words),
        en_words=frozenset(en_words - sv_words),
        prefixes={k: tuple(v) for k, v in prefixes.items()},
        short_prefixes=tuple(short),
        first_question=model.questions[0] if model.questions else None,
        first_validation=model.validation_questions[0] if model.validation_questions else None,
    )


_TABLES: dict[int, tuple[weakref.ref[Model], _Tables]] = {}


def _tables(model: Model) -> _Tables:
    """The tables of ``model``, built on first use and dropped when the model is."""
    key = id(model)
    entry = _TABLES.get(key)
    if entry is not None and entry[0]() is model:
        return entry[1]
    tables = _build_tables(model)
    _TABLES[key] = (weakref.ref(model), tables)
    weakref.finalize(model, _TABLES.pop, key, None)
    return tables


def _match_text(tables: _Tables, text: str) -> str | None:
    """The lower-case id of the one question whose text ``text`` starts like, or None."""
    found = {qid for prefix, qid in tables.prefixes.get(text[:4], ()) if text.startswith(prefix)}
    found.update(qid for prefix, qid in tables.short_prefixes if text.startswith(prefix))
    return found.pop() if len(found) == 1 else None


# --------------------------------------------------------------------------- tokens


def _tokens(text: str) -> list[str]:
    out = []
    for raw in _SPLIT_RE.split(text.lower()):
        token = raw.strip(_TOKEN_TRIM)
        if token:
            out.append(token)
    return out


def _is_letter(token: str) -> bool:
    return len(token) == 1 and "a" <= token <= "z"


def _answer_token(token: str, info: _Info | None, keywords: frozenset[str], numbers: bool) -> bool:
    if _is_letter(token) or token in _CERTAINTY or token in _CERTAINTY_FILLERS:
        return True
    if token in _CONNECTORS or token in _RANGE_WORDS or token in _SKIP_WORDS:
        return True
    if _RANGE_TOKEN_RE.fullmatch(token):
        return True
    if isinstance(info, _QInfo):
        return token in info.words or token in keywords
    if info is None and token in keywords:
        return True
    if numbers and (_NUMBER_RE.fullmatch(token) is not None or token in _VALUE_FILLERS):
        return True
    return isinstance(info, _VInfo) and token in info.fillers


def _looks_like_answer(
    tokens: Sequence[str], info: _Info | None, keywords: frozenset[str], numbers: bool
) -> bool:
    """The first token and more than half of all tokens are answer tokens.

    Where numbers count, more than two of them (``070 123 45 67``) make a phone number,
    not a value.
    """
    if not tokens or not _answer_token(tokens[0], info, keywords, numbers):
        return False
    if numbers and sum(1 for t in tokens if _NUMBER_RE.fullmatch(t)) > 2:
        return False
    hits = sum(1 for t in tokens if _answer_token(t, info, keywords, numbers))
    return hits * 2 > len(tokens)


def _only_answer_tokens(tokens: Sequence[str], keywords: frozenset[str]) -> bool:
    """Every token is an answer token and at least one chooses an option."""
    chooses = False
    for t in tokens:
        if _is_letter(t) or t in keywords or _RANGE_TOKEN_RE.fullmatch(t):
            chooses = True
        elif not _answer_token(t, None, keywords, False):
            return False
    return chooses


# --------------------------------------------------------------------------- rendering


def _certainty_word(certain: bool, lang: str) -> str:
    sure, unsure = _CERTAINTY_WORDS.get(lang, _CERTAINTY_WORDS["en"])
    return sure if certain else unsure


def format_answer(
    question: Question,
    options: Sequence[str],
    certain: bool | None,
    comment: str | None = None,
    *,
    lang: str = "sv",
) -> str:
    """Render one answer as a reply-format line, e.g. ``1.4 b-c säker # text``.

    Options are written in display order: a lone exclusive option by its keyword in
    ``lang`` (``nej``/``no``), two or more adjacent options of a ``scale`` question as a
    range (``b-d``), otherwise letters separated by spaces. Certainty None writes no
    certainty word. Line breaks in the comment become spaces.

    Returns:
        The line, without a line break; :func:`parse_reply` reads it back as the same
        answer.
    """
    index = {o.id: i for i, o in enumerate(question.options)}
    chosen = sorted(dict.fromkeys(x.lower() for x in options), key=lambda x: index.get(x, len(index)))
    parts = [question.id]
    single = question.option(chosen[0]) if len(chosen) == 1 else None
    positions = [index[x] for x in chosen if x in index]
    if single is not None and single.exclusive and single.keyword.values:
        parts.append(single.keyword.get(lang))
    elif (
        question.scoring == "scale"
        and len(chosen) >= 2
        and len(positions) == len(chosen)
        and positions[-1] - positions[0] == len(positions) - 1
    ):
        parts.append(f"{chosen[0]}-{chosen[-1]}")
    else:
        parts.extend(chosen)
    if certain is not None:
        parts.append(_certainty_word(certain, lang))
    if comment is not None:
        text = " ".join(comment.splitlines()).strip()
        if text:
            parts.append("# " + text)
    return " ".join(parts)


def format_validation(vq: ValidationQuestion, value: str, *, lang: str = "sv") -> str:
    """Render a validation answer as a reply-format line.

    Returns:
        ``V1 40 %`` for a percentage, ``V2 12`` for a number, ``V6 b`` for a choice.
        ``lang`` is accepted for symmetry with :func:`format_answer`; the forms are the
        same in every language.
    """
    if vq.kind == "percent":
        return f"{vq.id} {value} %"
    return f"{vq.id} {value}"


def example_line(question: Question | ValidationQuestion, lang: str = "sv") -> str:
    """A correct line for ``question``, to show next to a mistake.

    Returns:
        For a ``count`` question two aspects and ``säker`` (``1.1 a c säker``); for a
        ``scale`` question an adjacent range and ``osäker`` (``1.4 b-c osäker``); for a
        question with a single ordinary option its exclusive keyword; for validation
        questions ``V1 40 %``, ``V2 12`` or ``V6 b``.
    """
    if isinstance(question, ValidationQuestion):
        if question.kind == "choice" and question.options:
            letters = [o.id for o in question.options]
            return format_validation(question, letters[1] if len(letters) > 1 else letters[0], lang=lang)
        return format_validation(question, "40" if question.kind == "percent" else "12", lang=lang)
    plain = [o.id for o in question.options if not o.exclusive]
    exclusive = [o for o in question.options if o.exclusive and o.keyword.values]
    if question.scoring == "scale":
        if len(plain) >= 3:
            return format_answer(question, plain[1:3], False, lang=lang)
        if len(plain) == 2:
            return format_answer(question, plain, False, lang=lang)
    elif len(plain) >= 3:
        return format_answer(question, [plain[0], plain[2]], True, lang=lang)
    elif len(plain) == 2:
        return format_answer(question, plain, True, lang=lang)
    if exclusive:
        return format_answer(question, [exclusive[-1].id], True, lang=lang)
    return format_answer(question, plain[:1] or [question.options[0].id], True, lang=lang)


# --------------------------------------------------------------------------- the reader


@dataclass(slots=True)
class _PendingError:
    source: str
    question: str | None
    kind: ErrorKind
    option: str | None
    other: str | None
    target: Question | ValidationQuestion | None
    exclusive: str | None = None  # for exclusive_combined: show that option alone


_PROBLEM_KINDS: dict[str, ErrorKind] = {
    "unknown_option": "unknown_option",
    "no_options": "no_options",
    "duplicate_option": "duplicate_option",
    "exclusive_combined": "exclusive_combined",
    "not_adjacent": "not_adjacent",
}


@dataclass(slots=True)
class _Reader:
    """Mutable state while one turn is read; :meth:`result` freezes it."""

    tables: _Tables
    current: _Info | None = None
    current_from_quote: bool = True
    window: list[str] = field(default_factory=list)
    items: list[Item | None] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    errors: list[_PendingError] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    sv: int = 0
    en: int = 0
    last_answer: int | None = None

    # ---- lines

    def line(self, raw: str) -> None:
        visible = raw.translate(_INVISIBLE)
        if len(visible) == len(raw):
            visible = raw  # the common case: nothing to drop, so parts need no translating
        probe = visible.strip()
        if not probe:
            self.window.clear()
            return
        if probe[0] == ">":
            self.last_answer = None
            self.quoted(probe)
            return
        self.window.clear()
        low = probe.lower()
        self.vote(low)
        command = None
        if len(low) < 24:
            word = low.strip(_COMMAND_TRIM)
            command = _COMMANDS.get(word if " " not in word else " ".join(word.split()))
        if command is not None:
            self.last_answer = None
            self.add(command, CommandLine(command, probe))
            return
        m = _COMMENT_RE.search(raw)
        if m is None:
            head, comment = raw, None
        else:
            head, comment = raw[: m.start()], raw[m.end() :].strip() or None
        if comment is not None and not head.translate(_INVISIBLE).strip(" \t\u00a0;"):
            self.comment_only(comment, raw.strip())
            return
        self.last_answer = None
        parts = head.split(";")
        start = 0
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            source = raw[start:].strip() if last else part.strip()
            start += len(part) + 1
            segment = (part if visible is raw else part.translate(_INVISIBLE)).strip()
            bullet = _BULLET_RE.match(segment)
            if bullet is not None:
                segment = segment[bullet.end() :]
            if segment:
                self.segment(segment, comment if last else None, source)

    def quoted(self, probe: str) -> None:
        m = _QUOTE_RE.match(probe)
        content = probe[m.end() :] if m is not None else probe
        content = content.replace("*", "").lstrip("#•· \t").strip()
        if not content:
            self.window.clear()
            return
        idm = _ID_RE.match(content)
        if idm is not None:
            info = self.tables.by_id.get(idm.group(1).lower())
            if info is not None:
                self.current, self.current_from_quote = info, True
                self.window.clear()
                return
        self.window.append(_norm(content))
        if len(self.window) > _WINDOW_LINES:
            del self.window[0]
        for start in range(len(self.window)):
            qid = _match_text(self.tables, " ".join(self.window[start:]))
            if qid is not None:
                self.current, self.current_from_quote = self.tables.by_id[qid], True
                return

    def comment_only(self, comment: str, source: str) -> None:
        """A line that is only a comment adds it to the answer on the line just above."""
        j = self.last_answer
        self.last_answer = None
        if j is None:
            return
        previous = self.items[j]
        if isinstance(previous, AnswerLine) and previous.comment is None:
            self.items[j] = replace(previous, comment=comment, source=previous.source + "\n" + source)

    def segment(self, segment: str, comment: str | None, source: str) -> None:
        tables = self.tables
        m = _ID_RE.match(segment)
        if m is not None:
            token = m.group(1)
            rest = segment[m.end() :].lstrip()
            # "1.4: a", "1.4 - a"; but "V2 -3" keeps its minus sign.
            if (
                rest
                and rest[0] in _ID_SEPARATORS
                and (rest[0] in ":.)" or rest[1:2].isspace() or not rest[1:])
            ):
                rest = rest[1:].lstrip()
            info = tables.by_id.get(token.lower())
            if info is None:
                is_v = token[0] in "vV"
                if rest and _looks_like_answer(_tokens(rest), None, tables.keywords, is_v):
                    target = tables.first_validation if is_v else tables.first_question
                    qid = token.upper() if is_v else token
                    self.error(source, qid, "unknown_question", None, None, target)
                return
            if not rest and comment is None:
                return  # an unfilled line of the answer block
            # The question printed without ">" (Outlook): it starts with a word, never a letter.
            if rest[:2].isalpha() and any(_norm(rest).startswith(h) for h in info.heads):
                self.current, self.current_from_quote = info, False
                return
            self.answer(info, rest, comment, source)
            return
        current = self.current
        tokens = _tokens(segment)
        if current is not None:
            if not self.current_from_quote and self.is_option_line(current, segment):
                return
            numbers = isinstance(current, _VInfo)
            if _looks_like_answer(tokens, current, tables.keywords, numbers):
                self.current = None
                self.answer(current, segment, comment, source)
                return
        qid = _match_text(tables, _norm(segment))
        if qid is not None:
            self.current, self.current_from_quote = tables.by_id[qid], False
            return
        if _only_answer_tokens(tokens, tables.keywords):
            self.error(source, None, "missing_question", None, None, tables.first_question)

    def is_option_line(self, info: _Info, segment: str) -> bool:
        """``a) Alla nya medarbetare``: an option printed under an unquoted question."""
        m = _OPTION_LINE_RE.fullmatch(segment.lower())
        if m is None:
            return False
        text = _norm(m.group(2))
        return any(text.startswith(h) for h in info.option_heads.get(m.group(1), ()))

    # ---- answers

    def answer(self, info: _Info, rest: str, comment: str | None, source: str) -> None:
        if isinstance(info, _VInfo):
            self.validation(info, rest, comment, source)
            return
        q = info.question
        tokens = _tokens(rest)
        if tuple(tokens) in _SKIP_FORMS:
            if comment is not None:
                self.notices.append(Notice("comment_ignored", q.id, source))
            self.add(q.id, SkipLine(q.id, source))
            return
        letters: list[str] = []
        certainty: list[tuple[str, bool]] = []
        i, n = 0, len(tokens)
        while i < n:
            t = tokens[i]
            i += 1
            if t in _CONNECTORS:
                continue
            if t in _CERTAINTY:
                certainty.append((t, _CERTAINTY[t]))
                if i < n and tokens[i] in _CERTAINTY_FILLERS:
                    i += 1
                continue
            if _is_letter(t) and i + 1 < n and tokens[i] in _RANGE_WORDS and _is_letter(tokens[i + 1]):
                bad = self.expand(info, t, tokens[i + 1], letters)
                i += 2
            elif (r := _RANGE_TOKEN_RE.fullmatch(t)) is not None:
                bad = self.expand(info, r.group(1), r.group(2), letters)
            elif _is_letter(t) and t in info.index:
                letters.append(t)
                bad = None
            elif t in info.words:
                letters.append(info.words[t])
                bad = None
            else:
                bad = t
            if bad is not None:
                self.error(source, q.id, "unknown_option", bad, None, q)
                return
        if len({c for _, c in certainty}) > 1:
            sure = next(w for w, c in certainty if c)
            unsure = next(w for w, c in certainty if not c)
            self.error(source, q.id, "conflicting_certainty", sure, unsure, q)
            return
        problem = check_options(q, letters)
        if problem is not None:
            kind = _PROBLEM_KINDS.get(problem.kind, "unknown_option")
            exclusive = problem.option if kind == "exclusive_combined" else None
            self.error(source, q.id, kind, problem.option, problem.other, q, exclusive)
            return
        if comment is not None and _answer_in_comment(self.tables, comment):
            self.notices.append(Notice("answer_in_comment", q.id, source))
        options = tuple(sorted(letters, key=info.index.__getitem__))
        certain = certainty[0][1] if certainty else None
        self.last_answer = self.add(q.id, AnswerLine(q.id, options, certain, comment, source))

    @staticmethod
    def expand(info: _QInfo, first: str, last: str, letters: list[str]) -> str | None:
        """Add every option from ``first`` to ``last``; return an unknown endpoint, if any."""
        for end in (first, last):
            if end not in info.index:
                return end
        lo, hi = sorted((info.index[first], info.index[last]))
        letters.extend(o.id for o in info.question.options[lo : hi + 1])
        return None

    def validation(self, info: _VInfo, rest: str, comment: str | None, source: str) -> None:
        vq = info.question
        tokens = _tokens(rest)
        if tuple(tokens) in _SKIP_FORMS:
            if comment is not None:
                self.notices.append(Notice("comment_ignored", vq.id, source))
            self.add(vq.id, SkipLine(vq.id, source))
            return
        value: str | None
        if vq.kind == "choice":
            chosen: list[str] = []
            i, n = 0, len(tokens)
            while i < n:
                t = tokens[i]
                i += 1
                if t in _CERTAINTY or t in _CERTAINTY_FILLERS or t in _CONNECTORS:
                    continue
                r = _RANGE_TOKEN_RE.fullmatch(t)
                if r is not None or (i + 1 < n and _is_letter(t) and tokens[i] in _RANGE_WORDS):
                    last = r.group(2) if r is not None else tokens[i + 1]
                    first = r.group(1) if r is not None else t
                    self.error(source, vq.id, "range_not_allowed", first, last, vq)
                    return
                if not _is_letter(t):
                    self.error(source, vq.id, "bad_value", t, None, vq)
                    return
                chosen.append(t)
            if len(chosen) > 1:
                self.error(source, vq.id, "range_not_allowed", chosen[0], chosen[1], vq)
                return
            value = chosen[0] if chosen else None
        else:
            kept = []
            for raw in rest.lower().split():
                t = raw.strip(_VALUE_TRIM)
                if t and t not in info.fillers and t not in _CERTAINTY and t not in _CERTAINTY_FILLERS:
                    kept.append(t)
            value = " ".join(kept) or None
        if value is None:
            self.error(source, vq.id, "bad_value", None, None, vq)
            return
        normalised, _reason = check_validation_value(vq, value)
        if normalised is None:
            self.error(source, vq.id, "bad_value", value, None, vq)
            return
        if comment is not None:
            self.notices.append(Notice("comment_ignored", vq.id, source))
        self.add(vq.id, ValidationLine(vq.id, normalised, source))

    # ---- bookkeeping

    def add(self, key: str, item: Item) -> int:
        """Record ``item``; a later line for the same question replaces an earlier one."""
        j = self.keys.get(key)
        if j is not None:
            before = self.items[j]
            if before is not None and _same(before, item):
                return j
            self.items[j] = None
            if not isinstance(item, CommandLine):
                self.notices.append(Notice("replaced_in_same_turn", key, item.source))
        self.keys[key] = len(self.items)
        self.items.append(item)
        return len(self.items) - 1

    def error(
        self,
        source: str,
        question: str | None,
        kind: ErrorKind,
        option: str | None,
        other: str | None,
        target: Question | ValidationQuestion | None,
        exclusive: str | None = None,
    ) -> None:
        self.errors.append(_PendingError(source, question, kind, option, other, target, exclusive))

    def vote(self, low: str) -> None:
        tables = self.tables
        for word in _WORD_RE.findall(low):
            if word in tables.sv_words:
                self.sv += 1
            elif word in tables.en_words:
                self.en += 1

    def result(self, default_language: str) -> ParsedTurn:
        if self.sv != self.en:
            lang = "sv" if self.sv > self.en else "en"
        else:
            lang = default_language if default_language in ("sv", "en") else "sv"
        errors = tuple(
            LineError(e.source, e.question, e.kind, e.option, e.other, _example(e, lang)) for e in self.errors
        )
        items = tuple(x for x in self.items if x is not None)
        return ParsedTurn(items=items, errors=errors, notices=tuple(self.notices), language=lang)


def _same(a: Item, b: Item) -> bool:
    """Whether two items say the same thing (their sources may differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, AnswerLine) and isinstance(b, AnswerLine):
        return (a.options, a.certain, a.comment) == (b.options, b.certain, b.comment)
    if isinstance(a, ValidationLine) and isinstance(b, ValidationLine):
        return a.value == b.value
    return True  # two skips of one question, or the same command twice


def _answer_in_comment(tables: _Tables, comment: str) -> bool:
    return any(tables.by_id.get(m.group(1).lower()) for m in _ANSWER_IN_COMMENT_RE.finditer(comment))


def _example(error: _PendingError, lang: str) -> str:
    target = error.target
    if target is None:
        return ""
    if isinstance(target, Question) and error.exclusive is not None:
        return format_answer(target, [error.exclusive], True, lang=lang)
    return example_line(target, lang)


def parse_reply(
    model: Model,
    text: str,
    *,
    default_language: str = "sv",
    current_question: str | None = None,
) -> ParsedTurn:
    """Read one turn (a reply mail's text or a chat message) in the reply format.

    ``current_question`` is the question a line without an id answers before any quoted
    question sets one (the web chat passes the question on screen); mail passes None.

    Returns:
        A :class:`ParsedTurn`: the usable lines in the order they count (a later line for
        the same question replaces an earlier one), the lines that could not be used with
        their reasons and examples, notices, and the guessed language. Never raises for
        any text.
    """
    reader = _Reader(_tables(model))
    if current_question is not None:
        reader.current = reader.tables.by_id.get(current_question.lower())
    for raw in text.splitlines():
        reader.line(raw)
    return reader.result(default_language)
