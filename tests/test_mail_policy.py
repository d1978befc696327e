"""The header policy of composed mail writes exactly the bytes of ``email.policy.SMTP``.

``bot.mail.compose.MailPolicy`` stores short plain values as given and other values
folded once; serialised, a message must be byte for byte what the standard policy writes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, formataddr

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.compose import POLICY, SMTP_POLICY
from bot.mail.render import new_boundary

NAMES = [
    "Subject",
    "To",
    "From",
    "Reply-To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
    "Content-Language",
    "Auto-Submitted",
    "X-Assessbot",
]
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
TEXT = st.text(ASCII | st.sampled_from("åäöÅÄÖé€ "), max_size=120)
BOUNDARY = re.compile(rb"={15}\d+==")


def _pair(headers: list[tuple[str, str]], body: str = "") -> tuple[object, object]:
    """The bytes each policy writes (or the exception it raises)."""
    out: list[object] = []
    for policy, generate in ((default, SMTP), (POLICY, SMTP_POLICY)):
        try:
            msg = EmailMessage(policy=policy)
            for name, value in headers:
                msg[name] = value
            if body:
                msg.set_content(body)
                msg.add_alternative(f"<p>{body}</p>", subtype="html", cte="base64")
            out.append(BOUNDARY.sub(b"B", msg.as_bytes(policy=generate)))
        except Exception as exc:  # the standard policy refuses some values
            out.append(type(exc))
    return out[0], out[1]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), TEXT, min_size=1, max_size=4))
def test_same_bytes_as_the_standard_policy(headers: dict[str, str]) -> None:
    standard, ours = _pair(list(headers.items()))
    assert ours == standard


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["Date", "Resent-Date"]),
    st.datetimes(timezones=st.just(UTC)) | st.datetimes(),
    st.sampled_from(["", " ", "  "]),
)
def test_dates_same_bytes(name: str, when: datetime, space: str) -> None:
    value = format_datetime(when)
    for variant in (value, value.replace(" ", space or " ", 1), value.replace(" 0", " ")):
        standard, ours = _pair([(name, variant)])
        assert ours == standard, variant


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["To", "From", "Reply-To", "Cc"]),
    st.text(ASCII | st.sampled_from("åäöé"), max_size=40),
    st.from_regex(r"[a-z0-9.+-]{1,30}@[a-z0-9-]{1,20}\.se", fullmatch=True),
)
def test_addresses_same_bytes(name: str, display: str, address: str) -> None:
    for value in (address, formataddr((display, address)), f"{display} <{address}>"):
        standard, ours = _pair([(name, value)])
        assert ours == standard, value


def test_typical_mail_same_bytes_and_readable() -> None:
    headers = [
        ("From", formataddr(("Infosäkkollen", "infosakkollen@example.se"))),
        ("To", "anna@k1.se"),
        ("Subject", "Kvitto: dina svar till Ödeshögs kommun"),
        ("Date", "Sat, 28 Nov 2026 06:54:55 +0000"),
        ("Message-ID", "<179584889572.27052.13888429028717616156@example.se>"),
        ("Content-Language", "sv"),
        ("Auto-Submitted", "auto-replied"),
        (
            "Reply-To",
            formataddr(("Myndigheten för civilt försvar (MCF)", "svar+au-5k4phmlt@svar.example.se")),
        ),
        ("In-Reply-To", "<a@b.se>"),
        ("References", "<179584889572.27052.13888429028717616156@example.se> <a@b.se>"),
    ]
    for _ in range(2):  # the second time from the remembered folded values
        standard, ours = _pair(headers, body="Registrerat: 1.5 säker\n")
        assert ours == standard
    msg = EmailMessage(policy=POLICY)
    for name, value in headers:
        msg[name] = value
    assert msg["To"].addresses[0].addr_spec == "anna@k1.se"
    assert str(msg["Subject"]) == "Kvitto: dina svar till Ödeshögs kommun"
    assert msg["Reply-To"].addresses[0].addr_spec == "svar+au-5k4phmlt@svar.example.se"


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["alternative", "mixed"]), st.sampled_from(["", "sv", "en"]))
def test_own_boundaries_fold_as_the_standard_policy(subtype: str, language: str) -> None:
    """A boundary from ``new_boundary`` is folded from a stand-in; the bytes are the standard's."""
    written = []
    for policy in (default, POLICY):
        msg = EmailMessage(policy=policy)
        msg["Subject"] = "Kvitto"
        if language:
            msg["Content-Language"] = language
        msg.set_content("Registrerat: 1.5 säker\n")
        msg.add_alternative("<p>Registrerat</p>", subtype="html", cte="base64")
        if subtype == "mixed":
            msg.make_mixed()
        written.append(msg)
    boundaries = [new_boundary() for _ in range(2)]
    for msg in written:
        for part, boundary in zip((p for p in msg.walk() if p.is_multipart()), boundaries, strict=False):
            part.set_boundary(boundary)
    boundary = boundaries[0]
    standard, ours = (m.as_bytes(policy=p) for m, p in zip(written, (SMTP, SMTP_POLICY), strict=True))
    assert ours == standard
    assert f'boundary="{boundary}"'.encode() in ours
    assert re.fullmatch(r"=_[0-9a-f]{32}", boundary) and boundary != new_boundary()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["References", "In-Reply-To"]),
    st.lists(
        st.from_regex(r"<[a-z0-9.]{1,60}@[a-z0-9]{1,20}\.se>", fullmatch=True).filter(
            lambda s: ".." not in s
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_message_id_lists_same_bytes(name: str, ids: list[str]) -> None:
    """Lists of message ids are folded by hand (``_wrap``); the bytes are the standard's."""
    standard, ours = _pair([(name, " ".join(ids))])
    assert ours == standard
