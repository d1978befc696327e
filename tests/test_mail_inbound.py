"""Reading inbound mail: the corpus of real-client replies, and what must never happen.

Every ``tests/mail_corpus/<name>.eml`` has a sibling ``<name>.expected.json`` stating what
:func:`bot.mail.inbound.read_message` must find; every key present is checked. Answering
fixtures also list the questions the reply parser must record from ``answer_text``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.inbound import (
    AuthResult,
    InboundMail,
    extract_return_date,
    html_to_text,
    read_message,
    strip_reply,
)
from conversations.parsing import CommandLine, parse_reply
from conversations.questionnaire import load_model

CORPUS = Path(__file__).parent / "mail_corpus"
FIXTURES = sorted(p.name.removesuffix(".eml") for p in CORPUS.glob("*.eml"))
MODEL = load_model()


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return data


def _read(name: str) -> tuple[bytes, InboundMail]:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    return raw, read_message(raw)


def _norm(line: str) -> str:
    return " ".join(line.split())


_BULLET = re.compile(r"^[*•·\-–]\s+")


def _unbullet(text: str) -> str:
    return "\n".join(_BULLET.sub("- ", x.strip()) for x in text.split("\n"))


def _lines_in_order(text: str, wanted: list[str]) -> list[str]:
    """The expected lines missing from ``text`` (compared with whitespace folded, in order)."""
    lines = [_norm(x) for x in text.split("\n")]
    missing, pos = [], 0
    for want in wanted:
        try:
            pos = lines.index(_norm(want), pos) + 1
        except ValueError:
            missing.append(want)
    return missing


def _recorded(text: str) -> tuple[list[str], list[str], tuple[Any, ...]]:
    turn = parse_reply(MODEL, text)
    questions = [i.question for i in turn.items if not isinstance(i, CommandLine)]
    commands: list[str] = [i.command for i in turn.items if isinstance(i, CommandLine)]
    return questions, commands, turn.errors


def _html_part(raw: bytes) -> str | None:
    from email import message_from_bytes
    from email.policy import compat32

    for part in message_from_bytes(raw, policy=compat32).walk():
        if part.get_content_type() == "text/html":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            charset = part.get_content_charset() or "utf-8"
            # Outlook declares iso-8859-1 and means windows-1252 (so does read_message).
            return data.decode("cp1252" if charset == "iso-8859-1" else charset, "replace")
    return None


def test_corpus_is_big_enough() -> None:
    assert len(FIXTURES) >= 48
    for name in FIXTURES:
        assert (CORPUS / f"{name}.expected.json").exists(), name


@pytest.mark.parametrize("name", FIXTURES)
def test_corpus(name: str) -> None:
    raw, mail = _read(name)
    exp = _expected(name)

    if "message_id" in exp:
        if exp["message_id"] == "generated":
            assert mail.message_id == f"<{hashlib.sha256(raw).hexdigest()}@assessbot.invalid>"
        else:
            assert mail.message_id == exp["message_id"]
    else:
        assert mail.message_id.startswith("<") and "@" in mail.message_id
    for key in ("from_address", "from_name", "subject", "in_reply_to", "text_source", "charset_problems"):
        if key in exp:
            assert getattr(mail, key) == exp[key], key
    if "references" in exp:
        assert list(mail.references) == exp["references"]
    for address in exp.get("recipients", []):
        assert address in mail.recipients
    for snippet in exp.get("text_contains", []):
        assert snippet in mail.text

    assert not _lines_in_order(mail.answer_text, exp.get("answer_lines", [])), mail.answer_text
    for snippet in exp.get("absent", []):
        assert snippet not in mail.answer_text, (snippet, mail.answer_text)

    if "auto_reply" in exp:
        if exp["auto_reply"] is None:
            assert mail.auto_reply is None
        else:
            assert mail.auto_reply is not None and mail.auto_reply.startswith(exp["auto_reply"])
    if "return_date" in exp:
        want = date.fromisoformat(exp["return_date"]) if exp["return_date"] else None
        assert mail.return_date == want

    if "bounce" in exp:
        if exp["bounce"] is None:
            assert mail.bounce is None
        else:
            b = mail.bounce
            assert b is not None
            want_b = exp["bounce"]
            for key in ("kind", "permanent", "reporting_mta", "original_message_id"):
                if key in want_b:
                    assert getattr(b, key) == want_b[key], key
            assert len(b.recipients) == len(want_b["recipients"])
            for got, want_r in zip(b.recipients, want_b["recipients"], strict=True):
                for key, value in want_r.items():
                    assert getattr(got, key) == value, key

    if "attachments" in exp:
        assert len(mail.attachments) == len(exp["attachments"]), mail.attachments
        for got_a, want_a in zip(mail.attachments, exp["attachments"], strict=True):
            for key, value in want_a.items():
                assert getattr(got_a, key) == value, key
            assert got_a.size == len(got_a.payload)

    if "auth" in exp:
        for key, value in exp["auth"].items():
            assert getattr(mail.authentication, key) == value, key
    if "auth_failed" in exp:
        assert mail.authentication.failed is exp["auth_failed"]

    for defect in exp.get("defects", []):
        assert any(defect in d for d in mail.defects), mail.defects
    assert not [d for d in mail.defects if d.startswith("internal error")]


ANSWERING = [n for n in FIXTURES if "expected_questions" in _expected(n)]


@pytest.mark.parametrize("name", ANSWERING)
def test_answer_text_parses_to_the_expected_questions(name: str) -> None:
    _, mail = _read(name)
    exp = _expected(name)
    questions, commands, errors = _recorded(mail.answer_text)
    assert questions == exp["expected_questions"]
    assert commands == exp.get("expected_commands", [])
    assert errors == (), errors


HTML_TOO = [n for n in FIXTURES if _expected(n).get("html_agrees")]


@pytest.mark.parametrize("name", HTML_TOO)
def test_html_alternative_gives_the_same_answers(name: str) -> None:
    """Read the HTML alternative as if the mail had no text part: the same answers."""
    raw, _ = _read(name)
    exp = _expected(name)
    html = _html_part(raw)
    assert html is not None
    answer = strip_reply(html_to_text(html))
    wanted = [_unbullet(x) for x in exp["answer_lines"] if not x.startswith(">")]
    assert not _lines_in_order(_unbullet(answer), wanted), answer
    for snippet in exp.get("absent", []):
        assert snippet not in answer, (snippet, answer)
    questions, commands, errors = _recorded(answer)
    assert questions == exp["expected_questions"]
    assert commands == exp.get("expected_commands", [])
    assert errors == ()


@pytest.mark.parametrize("name", FIXTURES)
def test_truncated_fixtures_never_raise(name: str) -> None:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    for cut in sorted({len(raw) * k // 13 for k in range(13)} | {1, 7, 64, 300}):
        mail = read_message(raw[:cut])
        assert isinstance(mail.answer_text, str)
        assert not [d for d in mail.defects if d.startswith("internal error")], (cut, mail.defects)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    mail = read_message(raw)
    assert mail.message_id
    assert not [d for d in mail.defects if d.startswith("internal error")], mail.defects


_MIME_PIECES = [
    b"From: =?utf-8?q?A=2C_B?= <a@example.se>\r\n",
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b"Content-Type: text/plain; charset=x-unknown\r\n",
    b'Content-Type: text/html; charset="utf-8"\r\n',
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%C3%A5.pdf\r\n",
    b"Subject: =?iso-8859-1?q?=E5?= \xc3\xa5\r\n",
    b"Authentication-Results: mx; dmarc=fail (x(y)) ; dkim=\r\n",
    b"Auto-Submitted: auto-replied\r\n",
    b"\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"> 1.1 Har\r\n",
    b"1.1 a c s\xc3\xa4ker\r\n",
    b"Den tors 4 mars 2027 kl 10:12 skrev X <\r\n",
    b"Fr\xe5n: X\r\nSkickat: y\r\nTill: z\r\n",
    b"<blockquote><div id=divRplyFwdMsg><br><![if x]>&amp;</blockquote>\r\n",
    b"=C3=A5=\r\n",
    b"SGVq\r\n",
    b"tillbaka 12 augusti\r\n",
    b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\n",
]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_MIME_PIECES), max_size=40))
def test_mime_shaped_garbage_never_raises(pieces: list[bytes]) -> None:
    mail = read_message(b"".join(pieces))
    assert not [d for d in mail.defects if d.startswith("internal error")], mail.defects


# --------------------------------------------------------------------------- focused cases


def _big_message(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Svensson <anna.svensson@exempelby.se>"
    msg["To"] = "svar+abc@infosakkollen.example"
    msg["Subject"] = "SV: Infosäkkollen 2027"
    msg["Message-ID"] = "<big@exempelby.se>"
    msg.set_content("1.1 a b c säker\n\nMvh Anna\n")
    msg.add_attachment(
        b"%PDF-1.7\n" + bytes(size), maintype="application", subtype="pdf", filename="Bilaga stor.pdf"
    )
    return msg.as_bytes()


def test_ten_megabyte_attachment() -> None:
    raw = _big_message(10 * 1024 * 1024)
    mail = read_message(raw)
    assert [a.filename for a in mail.attachments] == ["Bilaga stor.pdf"]
    assert mail.attachments[0].size == 10 * 1024 * 1024 + 9
    assert mail.answer_text == "1.1 a b c säker"


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("Jag är tillbaka 12 augusti.", date(2027, 7, 5), date(2027, 8, 12)),
        ("Jag är åter den 2027-08-12.", date(2027, 7, 5), date(2027, 8, 12)),
        ("I tjänst igen måndag 16/8.", date(2027, 7, 5), date(2027, 8, 16)),
        ("I'm back on 12 August.", date(2027, 7, 5), date(2027, 8, 12)),
        ("I will return on 08/12/2027.", date(2027, 7, 12), date(2027, 8, 12)),
        ("I will return on August 12th, 2027.", date(2027, 7, 12), date(2027, 8, 12)),
        ("Ledig t.o.m. 11/8, därefter nås jag som vanligt.", date(2027, 7, 5), date(2027, 8, 12)),
        ("Jag är tillbaka på kontoret vecka 33.", date(2027, 7, 5), date(2027, 8, 16)),
        ("Back Monday.", date(2027, 7, 7), date(2027, 7, 12)),
        ("Tillbaka i morgon.", date(2027, 7, 7), date(2027, 7, 8)),
        ("Jag är tillbaka 10 januari.", date(2027, 12, 20), date(2028, 1, 10)),
        ("Jag är tillbaka 16/8-27.", date(2027, 7, 5), date(2027, 8, 16)),
        ("Jag är på semester till 2 augusti.", date(2027, 7, 5), date(2027, 8, 2)),
        # Unsure: no date, a weekday that does not fit, a date far away, both readings plausible.
        ("Jag är på semester.", date(2027, 7, 5), None),
        ("Tillbaka tisdag 16/8.", date(2027, 7, 5), None),
        ("Back on 2031-01-01.", date(2027, 7, 5), None),
        ("I will return on 08/09/2027.", date(2027, 7, 12), None),
        ("Jag är tillbaka 12 augusti.", None, None),
        ("Jag är tillbaka 2027-08-12.", None, date(2027, 8, 12)),
    ],
)
def test_extract_return_date(text: str, reference: date | None, expected: date | None) -> None:
    assert extract_return_date(text, reference) == expected


QUOTED_QUESTION = "> 1.4  Har nya medarbetare, de senaste två åren, fått en introduktion till\n> organisationens regler för informationssäkerhet?"


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        # Apple Mail with the attribution outside the quote.
        (
            "1.4 a säker\n\n4 mars 2027 kl. 10:12 skrev Infosäkkollen <svar+x@y.example>:\n\n"
            + QUOTED_QUESTION,
            ["1.4 a säker"],
            ["skrev"],
        ),
        # Attribution as Thunderbird writes it when configured to "X skrev:".
        ("1.4 a säker\n\nInfosäkkollen skrev:\n" + QUOTED_QUESTION, ["1.4 a säker"], ["skrev"]),
        # A bullet list must not be taken for a signature.
        ("- 1.3 b säker\n- 1.4 a säker\n\n/Anna", ["- 1.3 b säker", "- 1.4 a säker"], ["/Anna"]),
        # "Thanks," above the answers is not the closing.
        ("Thanks, answers:\n1.4 a sure\n\nThanks,\nLena", ["Thanks, answers:", "1.4 a sure"], ["Lena"]),
        # Inline answer under the last quoted question only.
        (
            "Den tors 4 mars 2027 kl 10:12 skrev X <x@y>:\n" + QUOTED_QUESTION + "\n\na säker\n\n-- \nAnna",
            [QUOTED_QUESTION.split("\n")[0], "a säker"],
            ["skrev", "Anna"],
        ),
        # A disclaimer that a gateway appended below the quote does not make it inline.
        (
            "1.4 a säker\n\nDen tors 4 mars 2027 kl 10:12 skrev X <x@y>:\n"
            + QUOTED_QUESTION
            + "\n\nDetta e-postmeddelande kan innehålla sekretessbelagd information.",
            ["1.4 a säker"],
            ["> 1.4", "Detta e-post"],
        ),
        # German colleague.
        (
            "1.4 a säker\n\nAm Do., 4. März 2027 um 10:12 Uhr schrieb X <x@y>:\n" + QUOTED_QUESTION,
            ["1.4 a säker"],
            ["schrieb"],
        ),
        # "X skrev:" with no quote below is the user's own text, not history.
        (
            "Vår IT-chef skrev:\n1.10 a b c säker\n2.7 a osäker",
            ["Vår IT-chef skrev:", "1.10 a b c säker", "2.7 a osäker"],
            [],
        ),
        # Nothing written above the quote: nothing is left.
        ("\n\nDen tors 4 mars 2027 kl 10:12 skrev X <x@y>:\n" + QUOTED_QUESTION, [], ["1.4", "skrev"]),
    ],
)
def test_strip_reply_cases(text: str, kept: list[str], gone: list[str]) -> None:
    out = strip_reply(text)
    assert not _lines_in_order(out, kept), out
    for snippet in gone:
        assert snippet not in out, out


@pytest.mark.parametrize(
    ("body", "auto"),
    [
        ("Jag är på semester och åter i tjänst 9 augusti.", True),
        ("I am out of the office. For urgent matters, call the service desk.", True),
        # Saying one is away is not enough without a return or a pointer elsewhere.
        ("Hej, jag är på semester men ville säga att vi behöver mer tid för avsnitt 3.", False),
        # Answers are never an auto reply.
        ("Jag är på semester till 2 augusti men här är svaren:\n1.4 a säker", False),
    ],
)
def test_auto_reply_from_the_body_alone(body: str, auto: bool) -> None:
    raw = (
        f"From: a@exempelby.se\nSubject: Sv: Infosäkkollen\nDate: Mon, 5 Jul 2027 09:00:00 +0200\n\n{body}\n"
    )
    mail = read_message(raw.encode())
    assert (mail.auto_reply is not None) is auto, mail.auto_reply


def test_strip_reply_of_nothing() -> None:
    assert strip_reply("") == ""
    assert strip_reply("\n\n> citat\n") == ""


def test_html_to_text_structure() -> None:
    html = (
        "<html><head><style>p{color:red}</style><title>x</title></head><body>"
        "<p>1.1&nbsp;a &amp; c s&auml;ker</p><div>2.1 b</div>line<br>break"
        "<ul><li>3.1 a</li><li>4.1 nej</li></ul>"
        "<table><tr><td>1.5</td><td>b</td><td>säker</td></tr></table>"
        "<script>alert(1)</script>"
        "<blockquote>citat<blockquote>djupare</blockquote></blockquote>"
        '<div id="divRplyFwdMsg"><b>Från:</b> X</div><div>historik</div>'
        "</body></html>"
    )
    assert html_to_text(html).split("\n") == [
        "1.1 a & c säker",
        "2.1 b",
        "line",
        "break",
        "- 3.1 a",
        "- 4.1 nej",
        "1.5 b säker",
        "> citat",
        "> > djupare",
        "________________________________",
        "Från: X",
        "historik",
    ]


def test_html_to_text_survives_bad_markup() -> None:
    assert "text" in html_to_text("<![foo[ bar ]]><p>text</p><div")


def test_only_the_topmost_authentication_results_count() -> None:
    raw = (
        b"Authentication-Results: mx.ours.example; spf=pass; dkim=pass; dmarc=pass\r\n"
        b"Authentication-Results: mx.ours.example; dmarc=fail\r\n"
        b"From: a@b.example\r\n\r\nhej\r\n"
    )
    assert read_message(raw).authentication == AuthResult("mx.ours.example", "pass", "pass", "pass", False)
    # Insisting on our MTA's name: a topmost header from someone else is not trusted.
    other = read_message(raw, authserv_id="mx.other.example").authentication
    assert other.authserv_id is None and not other.failed


def test_message_without_anything() -> None:
    mail = read_message(b"")
    assert mail.message_id == f"<{hashlib.sha256(b'').hexdigest()}@assessbot.invalid>"
    assert mail.text == mail.answer_text == ""
    assert mail.text_source == "none"


def test_speed_of_a_typical_reply(capsys: pytest.CaptureFixture[str]) -> None:
    """Measured and printed (``-s``), not asserted: reading a Gmail reply with the quoted section."""
    raw = (CORPUS / "gmail_web_sv.eml").read_bytes()
    read_message(raw)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        read_message(raw)
    per = (time.perf_counter() - start) / runs * 1000
    with capsys.disabled():
        print(f"\nread_message(gmail_web_sv.eml, {len(raw)} bytes): {per:.2f} ms")
    assert re.match(r"\d", f"{per}")
