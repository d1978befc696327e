"""``score --batch`` reads plain lines the fast ways and must read every line as one document.

The command's chunk function (``score_chunk``: the fast ways of ``BatchScorer.encode_lines``,
then the general way for the rest) is compared byte for byte with the general way alone,
line by line: ``orjson.loads`` + ``BatchScorer.encode`` + ``score_rows``, or the error
placeholder. The inputs are plain documents in many spellings and documents with every
kind of mistake, including text that only looks like the compact form.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.score_batch import random_document
from bot.commands.score import score_chunk
from conversations.questionnaire import load_model
from scoring.batch import BatchScorer
from scoring.score import AnswerFileError

MODEL = load_model()
FAST = BatchScorer(MODEL)  # shared across examples: remembered pieces must stay right
GENERAL = BatchScorer(MODEL)


def one_by_one(lines: list[bytes], first: int = 1) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The output of the general way, line by line (as the command was before the fast ways)."""
    results: list[bytes] = []
    errors: list[tuple[int, str]] = []
    for k, line in enumerate(lines):
        number = first + k
        try:
            row, val = GENERAL.encode(orjson.loads(line))
        except (orjson.JSONDecodeError, AnswerFileError) as exc:
            if not line.strip():
                continue
            message = f"not valid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
            errors.append((number, message))
            results.append(orjson.dumps({"line": number, "error": message}))
            continue
        results.extend(GENERAL.score_rows([row], [val]))
    return results, errors


def check(lines: list[bytes], first: int = 1) -> None:
    assert score_chunk(FAST, lines, first) == one_by_one(lines, first)


def spellings(doc: Any) -> list[bytes]:
    """One document written in several ways, each a JSON line."""
    try:
        compact = orjson.dumps(doc)
    except TypeError:  # an integer beyond 64 bits: the same form, written by json
        compact = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    out = [
        compact,
        json.dumps(doc).encode(),
        json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(),
        json.dumps(doc, indent=None, separators=(", ", ":")).encode(),
    ]
    return [line + b"\n" for line in out]


def test_random_documents_in_many_spellings():
    rng = random.Random(5)
    docs = [random_document(MODEL, rng) for _ in range(600)]
    for doc in docs[::7]:
        doc.pop("model")
    for doc in docs[1::7]:
        doc.pop("validation")
    for doc in docs[2::11]:
        doc["validation"] = None
    lines = [line for doc in docs for line in spellings(doc)]
    check(lines)
    rng.shuffle(lines)
    check(lines, first=4097)


BASE = b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"1.2":{"options":["b"],"certain":false}},"validation":{"V1":"12","V6":"b"}}'

NASTY = [
    BASE,
    BASE + b"\r",
    b" " + BASE,
    BASE + b" ",
    b"",
    b"   ",
    b"{}",
    b"[]",
    b"null",
    b'{"model":"msb-2021","answers":{}}',
    b'{"model":"msb-2021","answers":{},"validation":{}}',
    b'{"model":"msb-2021","answers":{},"validation":null}',
    b'{"model":"msb-2021","answers":null}',
    b'{"model":"other","answers":{}}',
    b'{"model":null,"answers":{}}',
    b'{"answers":{"1.1":{"options":["a"],"certain":true}}}',
    # duplicates: JSON keeps the last value in the first place
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"1.1":{"options":["b"],"certain":false}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"1.2":{"options":["b"],"certain":true},"1.1":{"options":["c"],"certain":false}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"12","V2":"3","V1":"14"}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"answers":{}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["\xff"],"certain":true}},"answers":{}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true,"certain":false}}}',
    b'{"model":"x","model":"msb-2021","answers":{}}',
    b'{"model":"msb-2021","answers":{"1.1":1,"1.1":{"options":["a"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.2":{"options":["a"],"certain":true},"1.1":1,"1.1":{"options":["a"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V1":"1","V2":"2","V1":"3"}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V2":"2","V1":"1","V1":"3"}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V1":"12"},"validation":{"V2":"1"}}',
    # other spellings that the general way accepts
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"]}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":1}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":0.0}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":"ab","certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":[" A","b "],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true,"comment":"x"}}}',
    b'{"model":"msb-2021","answers":{"\\u0031.1":{"options":["\\u0061"],"certain":true}}}',
    b'{"model":"msb-2021","org":"x","answers":{}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V1":"","V2":null,"V9":null,"V3":"50 %","V6":"B)"}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V1":12,"V2":-0,"V3":1.0,"V4":1e2,"V8":3.5}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V2":123456789012345678901234567890}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V2":18446744073709551615}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V2":9223372036854775807}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V2":true}}',
    # mistakes
    b'{"model":"msb-2021","answers":{"9.9":{"options":["a"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["z"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a","a"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":[],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":"yes"}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":2}}}',
    b'{"model":"msb-2021","answers":{"1.1":["a"]}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":[1],"certain":true}}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V1":"many"}}',
    b'{"model":"msb-2021","answers":{},"validation":{"V99":"1"}}',
    b'{"model":"msb-2021","answers":{},"validation":["V1"]}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["\\ud800"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{},"x":"\xff"}',
    b'{"model":"msb-2021","answers":{},"x":1e999}',
    b'{"model":"msb-2021","answers":',
    b'{"model":"msb-2021","answers":{}} {}',
    b'\xef\xbb\xbf{"model":"msb-2021","answers":{}}',
    # text that only looks like the compact form
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"1.2":{"options":["b"],"certain":true}}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"1.2":{"options":["b"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"1"}},"validation":{"V1":"2"}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a},\\"1.2\\":{"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"1,\\"V2\\":\\"2"}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"validation":{"V1":"1"}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"1","V6":"a"}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}}"validation":{"V1":"1"}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},,"1.2":{"options":["b"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"1",,"V6":"a"}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true},"1.2":1,"1.3":{"options":["a"],"certain":true}}}',
    b'{"model":"msb-2021","answers":{"1.1":{"options":["a"],"certain":true}},"validation":{"V1":"1","V2":{"a":1},"V6":"a"}}',
]


def test_nasty_lines_alone_and_together():
    for line in NASTY:
        check([line + b"\n"])
        check([line])  # the last line of a file may lack its newline
    lines = [line + b"\n" for line in NASTY]
    check(lines * 2)
    check(lines[::-1])


_LETTERS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "i", "z", "A", " b", "", 'a},"1.2":{'])
_QIDS = st.sampled_from([*(q.id for q in MODEL.questions[:12]), "9.9", "1.1 ", "validation"])
_ANSWER = st.one_of(
    st.fixed_dictionaries(
        {"options": st.lists(_LETTERS, max_size=4), "certain": st.sampled_from([True, False, 1, 0, "x", 2])},
        optional={"comment": st.just("x")},
    ),
    st.fixed_dictionaries({"options": st.text("abcz", max_size=3)}),
    st.sampled_from([None, 1, "a", ["a"]]),
)
_VALUE = st.one_of(
    st.sampled_from(["12", "", "a", "b)", "50 %", "x", "1,5", "-3"]),
    st.none(),
    st.integers(min_value=-(1 << 65), max_value=1 << 65),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.booleans(),
)
_DOC = st.fixed_dictionaries(
    {"answers": st.dictionaries(_QIDS, _ANSWER, max_size=8)},
    optional={
        "model": st.sampled_from(["msb-2021", "msb-2021", "other", None]),
        "validation": st.one_of(
            st.none(),
            st.dictionaries(st.sampled_from(["V1", "V2", "V3", "V6", "V8", "V99"]), _VALUE, max_size=4),
        ),
        "org": st.just("x"),
    },
)
_SNIPPETS = [
    b",",
    b"}",
    b'},"',
    b'"',
    b"\xff",
    b" ",
    b'"1.1":{"options":["a"],"certain":true},',
    b'"V1":"1",',
    b'}},"validation":{',
    b'validation":',
    b"\n",
]


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    doc = draw(_DOC)
    if "model" in doc:  # the usual order: model first
        doc = {"model": doc.pop("model"), **doc}
    line = draw(st.sampled_from(spellings(doc))).rstrip(b"\n")
    if draw(st.integers(0, 3)) == 0:  # a small mistake or an odd spelling in the text
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 2))
        line = line[:at] + draw(st.sampled_from(_SNIPPETS)) + line[at + cut :]
    return line + b"\n"


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), min_size=1, max_size=12))
def test_any_lines_read_as_one_by_one(chunk: list[bytes]):
    check(chunk)
