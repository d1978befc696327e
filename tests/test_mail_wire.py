"""Composed mail written directly is byte for byte what the standard generator writes.

``bot.mail.wire.wire_bytes`` writes the plain shape of our own mail (receipts, notices,
section mails) without ``email.generator`` and hands everything else to it; either way
the bytes must be ``as_bytes(policy=SMTP_POLICY)``.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from email.message import EmailMessage, Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.tables import Contact, Cycle, Organisation, Response
from bot.mail.compose import POLICY, SMTP_POLICY, new_message, section_mail
from bot.mail.render import set_bodies, set_text_bodies
from bot.mail.wire import wire_bytes
from bot.settings import Settings
from conversations.questionnaire import load_model

GENERATED = re.compile(rb"={15}\d+==")
SETTINGS = Settings(secret_key="wire", reply_domain="svar.example.se")
MODEL = load_model()
RESPONSE = Response(
    id=7, organisation_id=3, cycle_id=1, model_id=MODEL.id, model_version=MODEL.version, thread_id="<t@x.se>"
)
TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("åäöÅÄÖé€→\n\r\t·"), max_size=400
)


def _both(msg: Message) -> tuple[bytes, bytes]:
    """What wire_bytes writes and what the generator writes, each from its own copy (a
    boundary the generator makes up is random: shown as B)."""
    fast, standard = wire_bytes(copy.deepcopy(msg)), copy.deepcopy(msg).as_bytes(policy=SMTP_POLICY)
    return GENERATED.sub(b"B", fast), GENERATED.sub(b"B", standard)


def _fast_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fallback fail, so that a test shows the direct path wrote the bytes."""

    def refuse(self: Message, *args: object, **kwargs: object) -> bytes:
        raise AssertionError("the standard generator was used")

    monkeypatch.setattr(Message, "as_bytes", refuse)


def _receipt(
    text: str, markdown: str, subject: str = "Kvitto: dina svar till Ödeshögs kommun"
) -> EmailMessage:
    msg = new_message(
        SETTINGS, to="anna@k1.se", subject=subject, lang="sv", response=RESPONSE, auto="auto-replied",
        in_reply_to="<179584889572.27052.13888429028717616156@k1.se>",
    )  # fmt: skip
    set_bodies(msg, text, markdown, lang="sv", title=subject)
    return msg


@settings(max_examples=150, deadline=None)
@given(TEXT, TEXT, TEXT)
def test_receipts_same_bytes(text: str, markdown: str, subject: str) -> None:
    msg = _receipt(text + "\n", markdown, subject.replace("\r", " ").replace("\n", " ") or "Kvitto")
    fast, standard = _both(msg)
    assert fast == standard


def test_receipt_and_notice_written_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    long_line = "1.1 Har ledningen styrt organisationens informationssäkerhetsarbete de senaste två åren?"
    receipt = _receipt(
        f"Registrerat:\n  {long_line}\n    → a) ja\n", f"## Registrerat\n\n- **1.1** {long_line}\n"
    )
    notice = new_message(SETTINGS, to="anna@k1.se", subject="Bilagan sparades inte", lang="sv")
    set_text_bodies(notice, "Hej!\n\nBilagan är för stor.\n", lang="sv", title="Bilagan sparades inte")
    expected = [m.as_bytes(policy=SMTP_POLICY) for m in (receipt, notice)]
    _fast_only(monkeypatch)
    assert [wire_bytes(m) for m in (receipt, notice)] == expected
    assert b"Content-Transfer-Encoding: 8bit\r\n\r\nRegistrerat:\r\n" in expected[0]


def test_section_mails_same_bytes() -> None:
    cycle = Cycle(id=1, name="2027", launch=date(2027, 3, 1), deadline=date(2027, 10, 31), model_id=MODEL.id,
                  model_version=MODEL.version)  # fmt: skip
    organisation = Organisation(id=3, name="Ödeshögs kommun", type="kommun")
    for language in ("sv", "en"):
        contact = Contact(id=1, organisation_id=3, email="anna@k1.se", coordinator=True, language=language)
        for index in range(len(MODEL.sections)):
            msg = section_mail(
                SETTINGS, MODEL, response=RESPONSE, organisation=organisation, cycle=cycle, contact=contact,
                index=index, answers={},
            )  # fmt: skip
            fast, standard = _both(msg)
            assert fast == standard


def test_other_shapes_go_to_the_standard_generator() -> None:
    # an attachment (a boundary the generator makes), a preamble, an attached message,
    # a header kept as an object (an unbreakable token), a part without Content-Type
    with_attachment = _receipt("Se bilagan.\n", "Se bilagan.")
    with_attachment.add_attachment(
        b"%PDF-1.7\n" * 50, maintype="application", subtype="pdf", filename="r.pdf"
    )
    with_preamble = _receipt("Hej\n", "Hej")
    with_preamble.preamble = "This is a multi-part message in MIME format."
    forwarded = _receipt("Vidarebefordrat\n", "Vidarebefordrat")
    forwarded.add_attachment(_receipt("Inre\n", "Inre"))
    long_token = EmailMessage(policy=POLICY)
    long_token["Subject"] = "x" * 120
    long_token.set_content("Hej\n")
    no_type = Message()
    no_type["Subject"] = "Hej"
    no_type.set_payload("Hej\n")
    for msg in (with_attachment, with_preamble, forwarded, long_token, no_type):
        fast, standard = _both(msg)
        assert fast == standard
