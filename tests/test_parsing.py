"""The reply format (shared/spec/reply-format.md), case by case.

Each case is a turn's text and exactly what must come out of it: the items, the errors
(source, question, kind, option, other, example) and the notices. In the tables an item or
error whose source is left out stands for the whole text, stripped; an error whose example
is left out expects the hand-written example of its question in the turn's language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from conversations.parsing import (
    AnswerLine,
    CommandLine,
    Item,
    Notice,
    ParsedTurn,
    SkipLine,
    ValidationLine,
    example_line,
    format_answer,
    format_validation,
    parse_reply,
)
from conversations.questionnaire import Model, Question, ValidationQuestion

NBSP = "\u00a0"

# Hand-written, so that the tests say what a correct example is instead of asking the code.
EXAMPLES = {
    "sv": {
        "1.1": "1.1 a c säker",
        "1.2": "1.2 a c säker",
        "1.4": "1.4 b-c osäker",
        "1.5": "1.5 b-c osäker",
        "2.2": "2.2 b-c osäker",
        "V1": "V1 40 %",
        "V2": "V2 12",
        "V6": "V6 b",
        None: "1.1 a c säker",
    },
    "en": {
        "1.1": "1.1 a c sure",
        "1.2": "1.2 a c sure",
        "1.4": "1.4 b-c unsure",
        "2.2": "2.2 b-c unsure",
        "V1": "V1 40 %",
        "V2": "V2 12",
        "V6": "V6 b",
        None: "1.1 a c sure",
    },
}


@dataclass(frozen=True)
class Err:
    kind: str
    question: str | None
    option: str | None = None
    other: str | None = None
    src: str = ""
    example: str | None = None


@dataclass(frozen=True)
class Case:
    text: str
    items: tuple[Item, ...] = ()
    errors: tuple[Err, ...] = ()
    notices: tuple[Notice, ...] = ()
    lang: str | None = None  # asserted when given


def A(
    q: str, opts: str, certain: bool | None = None, comment: str | None = None, src: str = ""
) -> AnswerLine:
    return AnswerLine(q, tuple(opts.split()), certain, comment, src)


def S(q: str, src: str = "") -> SkipLine:
    return SkipLine(q, src)


def V(q: str, value: str, src: str = "") -> ValidationLine:
    return ValidationLine(q, value, src)


def C(command: str, src: str = "") -> CommandLine:
    return CommandLine(command, src)  # type: ignore[arg-type]


def ok(text: str, *items: Item, lang: str | None = None) -> Case:
    return Case(text, items, lang=lang)


def err(text: str, *errors: Err, lang: str | None = None) -> Case:
    return Case(text, (), errors, lang=lang)


def nothing(text: str) -> Case:
    return Case(text)


def _example_key(e: Err) -> str | None:
    """Which hand-written example an error shows: an unknown question shows the first one."""
    return None if e.kind in ("unknown_question", "missing_question") else e.question


def check(turn: ParsedTurn, case: Case) -> None:
    whole = case.text.strip()
    lang = turn.language
    expected_items = tuple(replace(i, source=i.source or whole) for i in case.items)
    assert turn.items == expected_items
    expected_errors = tuple(
        (e.src or whole, e.question, e.kind, e.option, e.other, e.example or EXAMPLES[lang][_example_key(e)])
        for e in case.errors
    )
    got_errors = tuple((e.source, e.question, e.kind, e.option, e.other, e.example) for e in turn.errors)
    assert got_errors == expected_errors
    assert turn.notices == tuple(replace(n, source=n.source or whole) for n in case.notices)
    if case.lang is not None:
        assert turn.language == case.lang


def cases(*table: Case) -> list[object]:
    return [pytest.param(c, id=repr(c.text)[:70]) for c in table]


# --------------------------------------------------------------------------- answers, Swedish

SWEDISH = cases(
    ok("1.1 a c säker", A("1.1", "a c", True), lang="sv"),
    ok("1.1 a c osäker", A("1.1", "a c", False)),
    ok("1.1 a c", A("1.1", "a c")),
    ok("1.1 a", A("1.1", "a")),
    ok("1.1 a b c d e säker", A("1.1", "a b c d e", True)),
    ok("1.1 e d c b a säker", A("1.1", "a b c d e", True)),
    ok("1.1 a, c och d säker", A("1.1", "a c d", True)),
    ok("1.1 a,c,d säker", A("1.1", "a c d", True)),
    ok("1.1 a , c , d säker", A("1.1", "a c d", True)),
    ok("1.1 a & c säker", A("1.1", "a c", True)),
    ok("1.1 a&c säker", A("1.1", "a c", True)),
    ok("1.1 a och c och e osäker", A("1.1", "a c e", False)),
    ok("1.1 A C SÄKER", A("1.1", "a c", True)),
    ok("1.1 A, c Osäker", A("1.1", "a c", False)),
    ok("1.1 a c saker", A("1.1", "a c", True)),
    ok("1.1 a c osaker", A("1.1", "a c", False)),
    ok("1.1 säker a c", A("1.1", "a c", True)),
    ok("1.1 a säker c", A("1.1", "a c", True)),
    ok("1.1 a c (säker)", A("1.1", "a c", True)),
    ok("1.1 a c [osäker]", A("1.1", "a c", False)),
    ok("1.1 a c {säker}", A("1.1", "a c", True)),
    ok("1.1 (osäker) a c", A("1.1", "a c", False)),
    ok("1.1 a c säker bedömning", A("1.1", "a c", True)),
    ok("1.1 a c (osäker bedömning)", A("1.1", "a c", False)),
    ok("1.1 a c säker bedomning", A("1.1", "a c", True)),
    ok("1.1 a c säker säker", A("1.1", "a c", True)),
    ok("1.1 a c säker.", A("1.1", "a c", True)),
    ok("1.1 a) c) säker", A("1.1", "a c", True)),
    ok("Fråga 1.1: a c säker", A("1.1", "a c", True)),
    ok("fråga 1.1 a c säker", A("1.1", "a c", True)),
    ok("FRÅGA 1.1) a c säker", A("1.1", "a c", True)),
    ok("Fraga 1.1 a c saker", A("1.1", "a c", True)),
    ok("Fråga1.1 a c säker", A("1.1", "a c", True)),
    ok("1.1: a c säker", A("1.1", "a c", True)),
    ok("1.1. a c säker", A("1.1", "a c", True)),
    ok("1.1) a c säker", A("1.1", "a c", True)),
    ok("1.1 - a c säker", A("1.1", "a c", True)),
    ok("1.1- a c säker", A("1.1", "a c", True)),
    ok("1.1 – a c säker", A("1.1", "a c", True)),
    ok("1.1 :a c säker", A("1.1", "a c", True)),
    ok("   1.1 a c säker   ", A("1.1", "a c", True)),
    ok("- 1.1 a c säker", A("1.1", "a c", True)),
    ok("• 1.1 a c säker", A("1.1", "a c", True)),
    ok("* 1.1 a c säker", A("1.1", "a c", True)),
    ok("1.10 a c säker", A("1.10", "a c", True)),
    ok("1.15 a c osäker", A("1.15", "a c", False)),
    ok("4.2 a b säker", A("4.2", "a b", True)),
    # ranges on count questions: every option in the range
    ok("1.1 a-c säker", A("1.1", "a b c", True)),
    ok("1.1 a–c säker", A("1.1", "a b c", True)),
    ok("1.1 a—c säker", A("1.1", "a b c", True)),
    ok("1.1 a - c säker", A("1.1", "a b c", True)),
    ok("1.1 a – c säker", A("1.1", "a b c", True)),
    ok("1.1 a till c säker", A("1.1", "a b c", True)),
    ok("1.1 c-a säker", A("1.1", "a b c", True)),
    ok("1.1 a-b d säker", A("1.1", "a b d", True)),
    ok("1.1 a-b, d-e säker", A("1.1", "a b d e", True)),
    ok("1.1 A-C SÄKER", A("1.1", "a b c", True)),
    ok("1.1 b-b säker", A("1.1", "b", True)),
    # ranges on scale questions: the adjacent range
    ok("1.4 b-d säker", A("1.4", "b c d", True)),
    ok("1.4 b–d osäker", A("1.4", "b c d", False)),
    ok("1.4 b—d osäker", A("1.4", "b c d", False)),
    ok("1.4 b till d säker", A("1.4", "b c d", True)),
    ok("1.4 e-c osäker", A("1.4", "c d e", False)),
    ok("1.4 b c säker", A("1.4", "b c", True)),
    ok("1.4 c, b säker", A("1.4", "b c", True)),
    ok("1.4 a säker", A("1.4", "a", True)),
    ok("1.4 B-D (SÄKER)", A("1.4", "b c d", True)),
    ok("2.2 b-c säker", A("2.2", "b c", True)),
    ok("2.2 a-e säker", A("2.2", "a b c d e", True)),
    # exclusive options by keyword or letter
    ok("1.1 ingen säker", A("1.1", "f", True)),
    ok("1.1 nej osäker", A("1.1", "g", False)),
    ok("1.1 g osäker", A("1.1", "g", False)),
    ok("1.1 NEJ", A("1.1", "g")),
    ok("1.1 Nej.", A("1.1", "g")),
    ok("1.2 pågår osäker", A("1.2", "h", False)),
    ok("1.2 pagar osäker", A("1.2", "h", False)),
    ok("1.2 PÅGÅR säker", A("1.2", "h", True)),
    ok("1.2 nyligen säker", A("1.2", "g", True)),
    ok("1.2 ingen säker", A("1.2", "f", True)),
    ok("1.2 nej säker", A("1.2", "i", True)),
    ok("1.4 pågår säker", A("1.4", "f", True)),
    ok("1.4 nej säker", A("1.4", "g", True)),
    ok("1.4 (nej) (säker)", A("1.4", "g", True)),
    ok("2.2 nej säker", A("2.2", "f", True)),
    ok("3.2 andra säker", A("3.2", "f", True)),
    ok("4.5 nej säker", A("4.5", "f", True)),
    # skipping
    ok("1.1 hoppa över", S("1.1")),
    ok("1.1 hoppa over", S("1.1")),
    ok("1.1 Hoppa över.", S("1.1")),
    ok("Fråga 1.4: HOPPA ÖVER", S("1.4")),
)

# --------------------------------------------------------------------------- comments

COMMENTS = cases(
    ok("1.1 a c säker # Beslut i KS 2026-05-12", A("1.1", "a c", True, "Beslut i KS 2026-05-12")),
    ok("1.1 a c säker kommentar: se protokollet", A("1.1", "a c", True, "se protokollet")),
    ok("1.1 a c säker Kommentar: se protokollet", A("1.1", "a c", True, "se protokollet")),
    ok("1.1 a c säker KOMMENTAR : stort", A("1.1", "a c", True, "stort")),
    ok("1.1 a c säker #   luft runt  ", A("1.1", "a c", True, "luft runt")),
    ok("1.1 a c säker # med # två", A("1.1", "a c", True, "med # två")),
    ok("1.1 a c säker # a; b; c", A("1.1", "a c", True, "a; b; c")),
    ok("1.1 a c säker # Säker? Nej, osäker (a-c)", A("1.1", "a c", True, "Säker? Nej, osäker (a-c)")),
    ok("1.1 a c säker #", A("1.1", "a c", True)),
    ok("1.1 a c säker#tätt", A("1.1", "a c", True, "tätt")),
    ok("1.1 a c # osäker här", A("1.1", "a c", None, "osäker här")),
    ok("1.1 a c säker # Kommentar: dubbel", A("1.1", "a c", True, "Kommentar: dubbel")),
    ok(
        f"1.1 a c säker # {NBSP}Outlook{NBSP}mellanslag{NBSP}",
        A("1.1", "a c", True, f"Outlook{NBSP}mellanslag"),
    ),
    ok("1.4 nej säker # vi tar fram en introduktion", A("1.4", "g", True, "vi tar fram en introduktion")),
    ok("1.1 a c säker comment: see minutes", A("1.1", "a c", True, "see minutes")),
    Case(
        "1.4 hoppa över # vet inte",
        (S("1.4"),),
        notices=(Notice("comment_ignored", "1.4", ""),),
    ),
    Case(
        "V2 12 # uppskattning",
        (V("V2", "12"),),
        notices=(Notice("comment_ignored", "V2", ""),),
    ),
    Case(
        "1.1 a säker # text; 1.4 b",
        (A("1.1", "a", True, "text; 1.4 b"),),
        notices=(Notice("answer_in_comment", "1.1", ""),),
    ),
    ok("1.1 a säker # text; 9.9 b", A("1.1", "a", True, "text; 9.9 b")),
    ok(
        "1.1 a c säker\n# på nästa rad",
        A("1.1", "a c", True, "på nästa rad", "1.1 a c säker\n# på nästa rad"),
    ),
    ok(
        "1.1 a c säker\nKommentar: på nästa rad",
        A("1.1", "a c", True, "på nästa rad", "1.1 a c säker\nKommentar: på nästa rad"),
    ),
    ok("1.1 a c säker # finns\n# mer", A("1.1", "a c", True, "finns", "1.1 a c säker # finns")),
    nothing("# bara en kommentar"),
    nothing("Kommentar: inget svar här"),
)

# --------------------------------------------------------------------------- answers, English

ENGLISH = cases(
    ok("1.1 a c sure", A("1.1", "a c", True), lang="en"),
    ok("1.1 a c unsure", A("1.1", "a c", False), lang="en"),
    ok("1.1 a c certain", A("1.1", "a c", True), lang="en"),
    ok("1.1 a c uncertain", A("1.1", "a c", False), lang="en"),
    ok("Question 1.1: a, c and d (sure)", A("1.1", "a c d", True), lang="en"),
    ok("question 1.1 a c sure assessment", A("1.1", "a c", True)),
    ok("QUESTION 1.4 - B TO D UNSURE", A("1.4", "b c d", False), lang="en"),
    ok("1.4 b to d (unsure assessment)", A("1.4", "b c d", False)),
    ok("1.1 a to c sure", A("1.1", "a b c", True)),
    ok("1.1 a and c sure", A("1.1", "a c", True), lang="en"),
    ok("1.1 none sure", A("1.1", "f", True), lang="en"),
    ok("1.1 no unsure", A("1.1", "g", False), lang="en"),
    ok("1.1 No", A("1.1", "g"), lang="en"),
    ok("1.2 ongoing unsure", A("1.2", "h", False)),
    ok("1.2 recent sure", A("1.2", "g", True)),
    ok("1.4 ongoing [certain]", A("1.4", "f", True)),
    ok("3.2 other sure", A("3.2", "f", True)),
    ok("1.4 b-d sure comment: see minutes", A("1.4", "b c d", True, "see minutes"), lang="en"),
    ok("1.1 a c sure # note", A("1.1", "a c", True, "note")),
    ok("1.1 skip", S("1.1"), lang="en"),
    ok("1.1 Skip.", S("1.1")),
    ok("Question 1.4: skip", S("1.4")),
    ok("Hi,\n1.1 a c", A("1.1", "a c", src="1.1 a c"), lang="en"),
    ok("1.1 a c", A("1.1", "a c"), lang="sv"),
)

# --------------------------------------------------------------------------- validation

VALIDATION = cases(
    ok("V1 40 %", V("V1", "40")),
    ok("V1 40%", V("V1", "40")),
    ok("V1: 40 procent", V("V1", "40")),
    ok("V1 40 percent", V("V1", "40")),
    ok("V1 40procent", V("V1", "40")),
    ok("v1 40 %", V("V1", "40")),
    ok("V1 40,5 %", V("V1", "40.5")),
    ok("V1 40.5%", V("V1", "40.5")),
    ok("V1 100 %", V("V1", "100")),
    ok("V1 0 %", V("V1", "0")),
    ok("V1 40 % säker", V("V1", "40")),
    ok("V1 (osäker) 40 %", V("V1", "40")),
    ok("V1 40 % (säker bedömning)", V("V1", "40")),
    ok("V1 ca 40 %", V("V1", "40")),
    ok("V1 40 %.", V("V1", "40")),
    ok(f"V1{NBSP}40{NBSP}%", V("V1", "40")),
    ok("V3 40 %", V("V3", "40")),
    ok("Fråga V3: 75 %", V("V3", "75")),
    ok("V2 12 st", V("V2", "12")),
    ok("V2 12", V("V2", "12")),
    ok("V2 12 pcs", V("V2", "12")),
    ok("V2 12 st.", V("V2", "12")),
    ok("V2 1 200 st", V("V2", "1200")),
    ok("V2 cirka 12 stycken", V("V2", "12")),
    ok("V8 3", V("V8", "3")),
    ok("V6 b", V("V6", "b")),
    ok("V6 B", V("V6", "b")),
    ok("V6 b)", V("V6", "b")),
    ok("V6: c säker", V("V6", "c")),
    ok("V6 (d)", V("V6", "d")),
    ok("V1 hoppa över", S("V1")),
    ok("V2 skip", S("V2")),
    ok("V1 40 %\nV1 40%", V("V1", "40", "V1 40 %")),
    Case(
        "V1 40 %\nV1 50 %",
        (V("V1", "50", "V1 50 %"),),
        notices=(Notice("replaced_in_same_turn", "V1", "V1 50 %"),),
    ),
)

# --------------------------------------------------------------------------- commands

COMMANDS = cases(
    ok("status", C("status")),
    ok("Status", C("status")),
    ok("STATUS.", C("status")),
    ok("  status  ", C("status")),
    ok("status?", C("status")),
    ok("hjälp", C("help")),
    ok("Hjälp!", C("help")),
    ok("hjalp", C("help")),
    ok("help", C("help")),
    ok("Help?", C("help")),
    ok("nästa", C("next")),
    ok("nasta", C("next")),
    ok("Next.", C("next")),
    ok("klar", C("done")),
    ok("Klar!", C("done")),
    ok("färdig", C("done")),
    ok("done", C("done")),
    ok("skicka in", C("submit")),
    ok("Skicka in!", C("submit")),
    ok("skicka   in", C("submit")),
    ok("submit", C("submit")),
    ok("pausa", C("pause")),
    ok("Pause.", C("pause")),
    ok("status\nstatus", C("status", "status")),
    ok("1.1 a säker\nklar", A("1.1", "a", True, src="1.1 a säker"), C("done", "klar")),
    ok("> status\nnästa", C("next", "nästa")),
    nothing("status tack"),
    nothing("Jag är klar med avsnittet."),
    nothing("skicka"),
    nothing("> klar"),
)

# --------------------------------------------------------------------------- ignored

IGNORED = cases(
    nothing(""),
    nothing("   "),
    nothing("\n\n\n"),
    nothing("\t"),
    nothing(NBSP),
    nothing("Hej!"),
    nothing("Hej Anna,"),
    nothing("Anna Andersson"),
    nothing("Informationssäkerhetssamordnare"),
    nothing("Tel 08-123 45 67"),
    nothing("08-123 45 67"),
    nothing("070-123 45 67"),
    nothing("Skickat från min iPhone"),
    nothing("Hämta Outlook för iOS"),
    nothing("Vänliga hälsningar"),
    nothing("Med vänlig hälsning,\nAnna Andersson\nKommunen"),
    nothing("/Anna"),
    nothing("//A"),
    nothing("--"),
    nothing("-----Ursprungligt meddelande-----"),
    nothing("Från: Infosäkkollen <bot@example.se>"),
    nothing("Skickat: den 5 mars 2027 10:12"),
    nothing("Den 5 mars 2027 kl. 10:12 skrev Infosäkkollen <bot@example.se>:"),
    nothing("5.3.2027"),
    nothing("5.3.2027 kl 10"),
    nothing("2027-03-05"),
    nothing("1.4.2027"),
    nothing("Mötet 5.3.2027 gick bra"),
    nothing("Vi har 1.5 miljoner i budget"),
    nothing("Policyn version 1.2 gäller"),
    nothing("12.5 miljoner kronor"),
    nothing("10.30 ses vi"),
    nothing("3.14 är pi"),
    nothing("V70 är min bil"),
    nothing("Volvo V70"),
    nothing("1.4"),
    nothing("1.4 "),
    nothing("1.4:"),
    nothing("Fråga 1.4:"),
    nothing("1.1\n1.2\n1.3\n1.4\n"),
    nothing("V3"),
    nothing("V3 "),
    nothing(f"1.4{NBSP}"),
    nothing("1.16"),
    nothing("1.4a c säker"),
    nothing("Tack för hjälpen!"),
    nothing("Ärende #123 gäller detta"),
    nothing("Hej; vi återkommer"),
    nothing("A lot of work remains"),
    nothing("I princip ja"),
    nothing("> 1.1 a c säker"),
    nothing("> > 1.1 a c säker\n> 1.4 b säker"),
    nothing("> 1.1 \n> 1.2 \n> 1.3 "),
)

# --------------------------------------------------------------------------- mistakes

MISTAKES = cases(
    err("1.16 a c säker", Err("unknown_question", "1.16")),
    err("5.1 a säker", Err("unknown_question", "5.1")),
    err("Fråga 9.9: a", Err("unknown_question", "9.9")),
    err("1.16 nej", Err("unknown_question", "1.16")),
    err("1.16 osäker", Err("unknown_question", "1.16")),
    err("V9 40 %", Err("unknown_question", "V9", example="V1 40 %")),
    err("v12 b", Err("unknown_question", "V12", example="V1 40 %")),
    err("1.16 a c sure", Err("unknown_question", "1.16", example="1.1 a c sure"), lang="en"),
    err("1.1 z säker", Err("unknown_option", "1.1", "z")),
    err("1.1 Z", Err("unknown_option", "1.1", "z")),
    err("1.4 h säker", Err("unknown_option", "1.4", "h")),
    err("2.2 g säker", Err("unknown_option", "2.2", "g")),
    err("1.1 pågår säker", Err("unknown_option", "1.1", "pågår")),
    err("2.2 pågår", Err("unknown_option", "2.2", "pågår")),
    err("1.1 ja säker", Err("unknown_option", "1.1", "ja")),
    err("1.1 a c kanske", Err("unknown_option", "1.1", "kanske")),
    err("1.1 ac säker", Err("unknown_option", "1.1", "ac")),
    err("1.1 a+c säker", Err("unknown_option", "1.1", "a+c")),
    err("1.4 a-z säker", Err("unknown_option", "1.4", "z")),
    err("1.4 x till b säker", Err("unknown_option", "1.4", "x")),
    err("1.1 bedömning a", Err("unknown_option", "1.1", "bedömning")),
    err("1.1 a c mycket säker", Err("unknown_option", "1.1", "mycket")),
    err("1.1 a c sakert", Err("unknown_option", "1.1", "sakert")),
    err("1.1 a - säker", Err("unknown_option", "1.1", "-")),
    err("1.5 miljoner kronor", Err("unknown_option", "1.5", "miljoner")),
    err("1.1 säker", Err("no_options", "1.1")),
    err("1.1 (osäker)", Err("no_options", "1.1")),
    err("1.1 # bara en kommentar", Err("no_options", "1.1")),
    err("1.1 och", Err("no_options", "1.1")),
    err("1.1 a nej", Err("exclusive_combined", "1.1", "g", "a", example="1.1 nej säker")),
    err("1.1 nej a", Err("exclusive_combined", "1.1", "g", "a", example="1.1 nej säker")),
    err("1.1 ingen nej", Err("exclusive_combined", "1.1", "f", "g", example="1.1 ingen säker")),
    err("1.1 a-g säker", Err("exclusive_combined", "1.1", "f", "a", example="1.1 ingen säker")),
    err("1.4 pågår b", Err("exclusive_combined", "1.4", "f", "b", example="1.4 pågår säker")),
    err("1.1 a no sure", Err("exclusive_combined", "1.1", "g", "a", example="1.1 no sure"), lang="en"),
    err("1.4 a c säker", Err("not_adjacent", "1.4", "a", "c")),
    err("1.4 b d säker", Err("not_adjacent", "1.4", "b", "d")),
    err("1.4 a b d", Err("not_adjacent", "1.4", "b", "d")),
    err("2.2 a e osäker", Err("not_adjacent", "2.2", "a", "e")),
    err("1.4 a c unsure", Err("not_adjacent", "1.4", "a", "c"), lang="en"),
    err("1.1 a a säker", Err("duplicate_option", "1.1", "a")),
    err("1.1 a-c b", Err("duplicate_option", "1.1", "b")),
    err("1.1 g nej", Err("duplicate_option", "1.1", "g")),
    err("1.4 b B", Err("duplicate_option", "1.4", "b")),
    err("V6 a-b", Err("range_not_allowed", "V6", "a", "b")),
    err("V6 a–c", Err("range_not_allowed", "V6", "a", "c")),
    err("V6 a till b", Err("range_not_allowed", "V6", "a", "b")),
    err("V6 a b", Err("range_not_allowed", "V6", "a", "b")),
    err("V6 a och b", Err("range_not_allowed", "V6", "a", "b")),
    err("V6 a, c", Err("range_not_allowed", "V6", "a", "c")),
    err("V1 hundra", Err("bad_value", "V1", "hundra")),
    err("V1 150 %", Err("bad_value", "V1", "150")),
    err("V2 många", Err("bad_value", "V2", "många")),
    err("V2 12 äpplen", Err("bad_value", "V2", "12 äpplen")),
    err("V2 -3", Err("bad_value", "V2", "-3")),
    err("1.1 -a", Err("unknown_option", "1.1", "-a")),
    err("V1 säker", Err("bad_value", "V1")),
    err("V1 # vet inte", Err("bad_value", "V1")),
    err("V6 e", Err("bad_value", "V6", "e")),
    err("V6 ja", Err("bad_value", "V6", "ja")),
    err("V5 b", Err("bad_value", "V5", "b", example="V5 40 %")),
    err("1.1 a säker osäker", Err("conflicting_certainty", "1.1", "säker", "osäker")),
    err("1.1 osäker a säker", Err("conflicting_certainty", "1.1", "säker", "osäker")),
    err("1.1 a sure unsure", Err("conflicting_certainty", "1.1", "sure", "unsure"), lang="en"),
    err("1.1 a (säker) [saker] osaker", Err("conflicting_certainty", "1.1", "säker", "osaker")),
    err("a c säker", Err("missing_question", None)),
    err("nej säker", Err("missing_question", None)),
    err("b-d osäker", Err("missing_question", None)),
)

# --------------------------------------------------------------------------- turns of several lines

SEVERAL = cases(
    Case(
        "1.1 a c säker\n1.16 a\n1.4 b-d osäker",
        (A("1.1", "a c", True, src="1.1 a c säker"), A("1.4", "b c d", False, src="1.4 b-d osäker")),
        (Err("unknown_question", "1.16", src="1.16 a"),),
    ),
    Case(
        "Hej!\n\nHär är svaren:\n1.1 a, c säker\n1.2 x\n1.4 nej\n\nMvh\nAnna Andersson\nTel 08-123 45 67",
        (A("1.1", "a c", True, src="1.1 a, c säker"), A("1.4", "g", src="1.4 nej")),
        (Err("unknown_option", "1.2", "x", src="1.2 x"),),
        lang="sv",
    ),
    ok(
        "1.1 a säker; 1.4 b osäker",
        A("1.1", "a", True, src="1.1 a säker"),
        A("1.4", "b", False, src="1.4 b osäker"),
    ),
    ok(
        "1.1 a säker;1.4 b osäker;",
        A("1.1", "a", True, src="1.1 a säker"),
        A("1.4", "b", False, src="1.4 b osäker"),
    ),
    Case(
        "1.1 a säker; 1.16 b; 1.4 c",
        (A("1.1", "a", True, src="1.1 a säker"), A("1.4", "c", src="1.4 c")),
        (Err("unknown_question", "1.16", src="1.16 b"),),
    ),
    ok(
        "1.1 a säker; 1.4 b osäker # kommentar; med semikolon",
        A("1.1", "a", True, src="1.1 a säker"),
        A("1.4", "b", False, "kommentar; med semikolon", src="1.4 b osäker # kommentar; med semikolon"),
    ),
    ok("V1 40 %; V6 b", V("V1", "40", "V1 40 %"), V("V6", "b", "V6 b")),
    ok("1.1 hoppa över; 1.2 skip", S("1.1", "1.1 hoppa över"), S("1.2", "1.2 skip")),
    Case(
        "1.1 a säker\n1.1 b säker",
        (A("1.1", "b", True, src="1.1 b säker"),),
        notices=(Notice("replaced_in_same_turn", "1.1", "1.1 b säker"),),
    ),
    ok("1.1 a säker\n1.1 a säker", A("1.1", "a", True, src="1.1 a säker")),
    ok("1.1 a c säker\n1.1 a, c (säker)", A("1.1", "a c", True, src="1.1 a c säker")),
    Case(
        "1.1 a säker; 1.1 a osäker",
        (A("1.1", "a", False, src="1.1 a osäker"),),
        notices=(Notice("replaced_in_same_turn", "1.1", "1.1 a osäker"),),
    ),
    Case(
        "1.1 hoppa över\n1.1 a säker",
        (A("1.1", "a", True, src="1.1 a säker"),),
        notices=(Notice("replaced_in_same_turn", "1.1", "1.1 a säker"),),
    ),
    Case(
        "1.1 a säker\n1.4 b säker\n1.1 c säker",
        (A("1.4", "b", True, src="1.4 b säker"), A("1.1", "c", True, src="1.1 c säker")),
        notices=(Notice("replaced_in_same_turn", "1.1", "1.1 c säker"),),
    ),
    Case(
        "1.1 a säker\n1.1 z säker",
        (A("1.1", "a", True, src="1.1 a säker"),),
        (Err("unknown_option", "1.1", "z", src="1.1 z säker"),),
    ),
    Case(
        "1.1 a säker # första\n1.1 a säker # andra",
        (A("1.1", "a", True, "andra", src="1.1 a säker # andra"),),
        notices=(Notice("replaced_in_same_turn", "1.1", "1.1 a säker # andra"),),
    ),
    Case(
        f"1.1\ta,\tc\tsäker\n1.4{NBSP}b-d{NBSP}osäker\r\nV1{NBSP}40{NBSP}%",
        (
            A("1.1", "a c", True, src="1.1\ta,\tc\tsäker"),
            A("1.4", "b c d", False, src=f"1.4{NBSP}b-d{NBSP}osäker"),
            V("V1", "40", f"V1{NBSP}40{NBSP}%"),
        ),
    ),
    ok("\u200b1.1 a\u200b c säker", A("1.1", "a c", True, src="\u200b1.1 a\u200b c säker")),
    ok("\ufeff1.4 nej säker", A("1.4", "g", True, src="\ufeff1.4 nej säker")),
    Case(
        "1.1 a, c och d säker\n1.2 pågår\n1.4 b-c säker\n2.2 g\nV1 40 %\nV6 a-b\nstatus",
        (
            A("1.1", "a c d", True, src="1.1 a, c och d säker"),
            A("1.2", "h", src="1.2 pågår"),
            A("1.4", "b c", True, src="1.4 b-c säker"),
            V("V1", "40", "V1 40 %"),
            C("status", "status"),
        ),
        (
            Err("unknown_option", "2.2", "g", src="2.2 g"),
            Err("range_not_allowed", "V6", "a", "b", src="V6 a-b"),
        ),
    ),
    Case(
        "Hi,\n1.1 a c sure\n1.4 a c sure\nBest regards\nJohn",
        (A("1.1", "a c", True, src="1.1 a c sure"),),
        (Err("not_adjacent", "1.4", "a", "c", src="1.4 a c sure", example="1.4 b-c unsure"),),
        lang="en",
    ),
)

# --------------------------------------------------------------------------- inline answers

Q14_SV = "Har nya medarbetare, de senaste två åren, fått en introduktion till organisationens regler för informationssäkerhet?"
Q14_EN = "In the last two years, have new staff been given an introduction to the organisation's information security rules?"
Q15_SV = "Har organisationen, de senaste två åren, inventerat sina informationstillgångar?"
V1_SV = (
    "Hur stor andel av de informationssäkerhetsincidenter som har inträffat i organisationen de senaste "
    "två åren hade identifierats i organisationens analyser av informationssäkerhetsrisker?"
)

INLINE = cases(
    ok(f"> 1.4 {Q14_SV}\nb-d säker", A("1.4", "b c d", True, src="b-d säker")),
    ok(
        "> 1.4 Har nya medarbetare, de senaste två åren, fått en introduktion till\n"
        "> organisationens regler för informationssäkerhet?\nb-d säker # kommentar",
        A("1.4", "b c d", True, "kommentar", src="b-d säker # kommentar"),
    ),
    ok(f"> {Q14_SV}\na säker", A("1.4", "a", True, src="a säker")),
    ok(f"> {Q14_SV.upper()}\na säker", A("1.4", "a", True, src="a säker")),
    ok(f">{Q14_SV}\nnej", A("1.4", "g", src="nej")),
    ok(f"> > {Q14_SV}\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f">> 1.4 {Q14_SV}\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> **1.4** {Q14_SV}\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> Fråga 1.4: {Q14_SV}\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_EN}\nb-c sure", A("1.4", "b c", True, src="b-c sure"), lang="en"),
    ok(f"> Question 1.4: {Q14_EN}\nno unsure", A("1.4", "g", False, src="no unsure")),
    ok(
        "> Har organisationen, de senaste två åren, inventerat sina\n> informationstillgångar?\nnej osäker",
        A("1.5", "g", False, src="nej osäker"),
    ),
    ok(
        f"> {Q15_SV}\n>   {NBSP}\n> a) Alla informationstillgångar\n> b) 75 % till mindre än 100 %\n\nb-c säker",
        A("1.5", "b c", True, src="b-c säker"),
    ),
    ok(f"> {Q14_SV}\n\n\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_SV}\n\tb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_SV}\n- b säker", A("1.4", "b", True, src="- b säker")),
    ok(f"> {Q14_SV}\n(säker) b", A("1.4", "b", True, src="(säker) b")),
    ok(f"> {Q14_SV}\nhoppa över", S("1.4", "hoppa över")),
    ok(
        f"> 1.4 {Q14_SV}\nb säker\n> 1.5 {Q15_SV}\nc-d osäker",
        A("1.4", "b", True, src="b säker"),
        A("1.5", "c d", False, src="c-d osäker"),
    ),
    ok(f"> {Q14_SV}\nb säker\nDet var svårt att svara.", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_SV}\nHmm, svår fråga.\nb säker", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_SV}\nb säker\nA lot to do", A("1.4", "b", True, src="b säker")),
    ok(f"> {Q14_SV}\nb säker\n\nVänliga hälsningar\nAnna Andersson", A("1.4", "b", True, src="b säker")),
    ok(
        f"> {Q14_SV}\nb säker; 1.1 a säker",
        A("1.4", "b", True, src="b säker"),
        A("1.1", "a", True, src="1.1 a säker"),
    ),
    ok(
        f"> {Q14_SV}\n1.1 a säker\nb säker",
        A("1.1", "a", True, src="1.1 a säker"),
        A("1.4", "b", True, src="b säker"),
    ),
    ok(
        f"> {Q14_SV}\nb säker\n# kommentar under",
        A("1.4", "b", True, "kommentar under", "b säker\n# kommentar under"),
    ),
    ok(f"> V1 {V1_SV}\n40 %", V("V1", "40", "40 %")),
    ok(f"> {V1_SV}\nca 40 procent", V("V1", "40", "ca 40 procent")),
    ok("> V6 Hur lång tid tar det normalt?\n> a) Inom ett dygn\nb", V("V6", "b", "b")),
    ok("> V2 Hur många?\n12 st", V("V2", "12", "12 st")),
    nothing("> V2 Hur många?\nAnna\n070 123 45 67"),
    ok(f"> 1.4 {Q14_SV}\nstatus", C("status", "status")),
    Case(
        f"> {Q14_SV}\na c säker",
        errors=(Err("not_adjacent", "1.4", "a", "c", src="a c säker"),),
    ),
    Case(
        f"> {Q14_SV}\nb säker\nc säker",
        (A("1.4", "b", True, src="b säker"),),
        (Err("missing_question", None, src="c säker"),),
    ),
    Case(
        f"> {Q14_SV}\ningen säker",
        errors=(Err("unknown_option", "1.4", "ingen", src="ingen säker"),),
    ),
    Case(
        "> Har organisationen, de senaste två åren,\na säker",
        errors=(Err("missing_question", None, src="a säker"),),
    ),
    Case(
        "> Ett helt annat citat\na säker",
        errors=(Err("missing_question", None, src="a säker"),),
    ),
    # Outlook quotes without ">": the question's own line sets the question.
    ok(
        f"1.4 {Q14_SV}\na) Alla nya medarbetare\ng) Nej\nb-c säker",
        A("1.4", "b c", True, src="b-c säker"),
    ),
    ok(f"{Q14_SV}\nnej", A("1.4", "g", src="nej")),
    ok(
        f"Fråga 1.4: {Q14_SV}\nf) Nej, men en introduktion håller på att tas fram\npågår",
        A("1.4", "f", src="pågår"),
    ),
    # Under a ">" quote the unquoted lines are the user's own: a copied option line is read as written.
    Case(f"> {Q14_SV}\ng) Nej", errors=(Err("duplicate_option", "1.4", "g", src="g) Nej"),)),
    nothing(f"> {Q14_SV}"),
    nothing(f"1.4 {Q14_SV}"),
)


@pytest.mark.parametrize("case", SWEDISH + COMMENTS + ENGLISH + VALIDATION + COMMANDS + IGNORED)
def test_lines(model: Model, case: Case) -> None:
    check(parse_reply(model, case.text), case)


@pytest.mark.parametrize("case", MISTAKES + SEVERAL)
def test_mistakes_and_turns(model: Model, case: Case) -> None:
    check(parse_reply(model, case.text), case)


@pytest.mark.parametrize("case", INLINE)
def test_inline(model: Model, case: Case) -> None:
    check(parse_reply(model, case.text), case)


# --------------------------------------------------------------------------- the web chat's open question


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("b-c säker", "1.4", (A("1.4", "b c", True, src="b-c säker"),)),
        ("nej", "1.1", (A("1.1", "g", src="nej"),)),
        ("40 %", "V1", (V("V1", "40", "40 %"),)),
        ("b", "v6", (V("V6", "b", "b"),)),
        ("1.1 a säker", "1.4", (A("1.1", "a", True, src="1.1 a säker"),)),
        ("Hej", "1.4", ()),
        ("b säker", "9.9", ()),
    ],
)
def test_current_question(model: Model, text: str, current: str, expected: tuple[Item, ...]) -> None:
    assert parse_reply(model, text, current_question=current).items == expected


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("text", "default", "lang"),
    [
        ("1.1 a c säker", "en", "sv"),
        ("1.1 a c sure", "sv", "en"),
        ("1.1 a c", "sv", "sv"),
        ("1.1 a c", "en", "en"),
        ("1.1 a c", "de", "sv"),
        ("1.1 nej", "en", "sv"),
        ("1.1 no", "sv", "en"),
        ("Hej!\n1.1 a c", "en", "sv"),
        ("Hello,\n1.1 a c", "sv", "en"),
        ("help", "sv", "en"),
        ("hjälp", "en", "sv"),
        ("status", "en", "en"),
        ("V1 40 procent", "en", "sv"),
        (f"> {Q14_EN}\n1.1 a c", "sv", "sv"),
    ],
)
def test_language(model: Model, text: str, default: str, lang: str) -> None:
    assert parse_reply(model, text, default_language=default).language == lang


# --------------------------------------------------------------------------- the synthetic model

SYNTHETIC = cases(
    ok("1.1 a c säker", A("1.1", "a c", True)),
    ok("1.1 a-e säker", A("1.1", "a b c d e", True)),
    ok("1.1 ingen säker", A("1.1", "f", True)),
    ok("1.1 pågår", A("1.1", "g")),
    ok("1.1 ongoing sure", A("1.1", "g", True)),
    ok("1.1 nej osäker", A("1.1", "h", False)),
    ok("1.2 b-d säker", A("1.2", "b c d", True)),
    ok("1.2 nyligen säker", A("1.2", "f", True)),
    ok("1.2 recent", A("1.2", "f")),
    ok("1.2 no unsure", A("1.2", "g", False)),
    ok("4.5 a säker", A("4.5", "a", True)),
    ok("V1 40 %", V("V1", "40")),
    ok("V2 12 st", V("V2", "12")),
    ok("V3 b", V("V3", "b")),
    ok("> Fråga 1.3?\nb-c säker", A("1.3", "b c", True, src="b-c säker")),
    ok("> Fråga 1.3? (en)\nb-c sure", A("1.3", "b c", True, src="b-c sure")),
    ok("> Andel?\n40 %", V("V1", "40", "40 %")),
    err("1.2 a c säker", Err("not_adjacent", "1.2", "a", "c", example="1.2 b-c osäker")),
    err("1.1 a pågår", Err("exclusive_combined", "1.1", "g", "a", example="1.1 pågår säker")),
    err("1.1 i", Err("unknown_option", "1.1", "i", example="1.1 a c säker")),
    err("V3 a-b", Err("range_not_allowed", "V3", "a", "b", example="V3 b")),
    err("V3 c", Err("bad_value", "V3", "c", example="V3 b")),
    err("4.6 a säker", Err("unknown_question", "4.6", example="1.1 a c säker")),
)


@pytest.mark.parametrize("case", SYNTHETIC)
def test_synthetic(synthetic: Model, case: Case) -> None:
    check(parse_reply(synthetic, case.text), case)


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("qid", "options", "certain", "comment", "lang", "line"),
    [
        ("1.1", ["a", "c"], True, None, "sv", "1.1 a c säker"),
        ("1.1", ["c", "a"], False, None, "sv", "1.1 a c osäker"),
        ("1.1", ["a", "b", "c"], None, None, "sv", "1.1 a b c"),
        ("1.1", ["a", "c"], True, "text", "sv", "1.1 a c säker # text"),
        ("1.1", ["a", "c"], True, "  rad ett\nrad två ", "sv", "1.1 a c säker # rad ett rad två"),
        ("1.1", ["a", "c"], True, "   ", "sv", "1.1 a c säker"),
        ("1.1", ["g"], True, None, "sv", "1.1 nej säker"),
        ("1.1", ["g"], True, None, "en", "1.1 no sure"),
        ("1.1", ["f"], False, None, "en", "1.1 none unsure"),
        ("1.1", ["a", "c"], False, None, "en", "1.1 a c unsure"),
        ("1.4", ["b", "c", "d"], True, None, "sv", "1.4 b-d säker"),
        ("1.4", ["d", "b", "c"], False, None, "en", "1.4 b-d unsure"),
        ("1.4", ["b", "c"], True, None, "sv", "1.4 b-c säker"),
        ("1.4", ["b"], True, None, "sv", "1.4 b säker"),
        ("1.4", ["f"], None, None, "sv", "1.4 pågår"),
        ("1.4", ["f"], None, None, "en", "1.4 ongoing"),
        ("1.2", ["g"], True, None, "sv", "1.2 nyligen säker"),
        ("3.2", ["f"], True, None, "en", "3.2 other sure"),
    ],
)
def test_format_answer(
    model: Model,
    qid: str,
    options: list[str],
    certain: bool | None,
    comment: str | None,
    lang: str,
    line: str,
) -> None:
    question = model.question(qid)
    assert question is not None
    assert format_answer(question, options, certain, comment, lang=lang) == line


@pytest.mark.parametrize(
    ("qid", "value", "line"),
    [("V1", "40", "V1 40 %"), ("V2", "12", "V2 12"), ("V6", "b", "V6 b"), ("V1", "40.5", "V1 40.5 %")],
)
def test_format_validation(model: Model, qid: str, value: str, line: str) -> None:
    vq = model.validation_question(qid)
    assert vq is not None
    assert format_validation(vq, value) == line
    assert parse_reply(model, line).items == (V(qid, value, line),)


@pytest.mark.parametrize(
    ("qid", "lang", "line"),
    [
        ("1.1", "sv", "1.1 a c säker"),
        ("1.1", "en", "1.1 a c sure"),
        ("1.4", "sv", "1.4 b-c osäker"),
        ("1.4", "en", "1.4 b-c unsure"),
        ("4.2", "sv", "4.2 a c säker"),
        ("2.2", "sv", "2.2 b-c osäker"),
        ("V1", "sv", "V1 40 %"),
        ("V2", "sv", "V2 12"),
        ("V6", "en", "V6 b"),
    ],
)
def test_example_line(model: Model, qid: str, lang: str, line: str) -> None:
    question = model.question(qid) or model.validation_question(qid)
    assert question is not None
    assert example_line(question, lang) == line


def test_every_example_line_parses(model: Model) -> None:
    """An example shown next to a mistake must itself be a correct line."""
    questions: list[Question | ValidationQuestion] = [*model.questions, *model.validation_questions]
    for question in questions:
        for lang in ("sv", "en"):
            line = example_line(question, lang)
            turn = parse_reply(model, line)
            assert not turn.errors, line
            assert len(turn.items) == 1 and turn.items[0].source == line


def test_tables_are_cached_per_model(model: Model) -> None:
    from conversations import parsing

    parse_reply(model, "1.1 a")
    first = parsing._tables(model)
    parse_reply(model, "1.1 b")
    assert parsing._tables(model) is first
