"""Replies to a received mail as the common mail clients write them (for journey tests).

Each function takes the mail being answered and the lines the person types, and returns
the raw reply the way that client builds it: where the new text goes, how the original is
quoted (``>`` lines, an Outlook header block without ``>``, HTML blockquotes), the
footers and signatures it adds, its charset and transfer encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from html import escape

Client = Callable[[EmailMessage, str, list[str]], bytes]


def _base(original: EmailMessage, sender: str, prefix: str = "SV: ") -> EmailMessage:
    reply_to = str(original["Reply-To"] or original["From"])
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = reply_to
    msg["Subject"] = prefix + str(original["Subject"])
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    msg["Date"] = "Fri, 05 Mar 2027 10:12:00 +0100"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = " ".join(
        x for x in (str(original["References"] or ""), str(original["Message-ID"])) if x
    )
    return msg


def _text(original: EmailMessage) -> str:
    part = original.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def _from_name(original: EmailMessage) -> str:
    name, address = parseaddr(str(original["From"]))
    return f"{name} <{address}>" if name else address


def outlook_windows_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    header = (
        "________________________________\n"
        f"Från: {_from_name(original)}\nSkickat: den 4 mars 2027 09:01\nTill: {sender}\n"
        f"Ämne: {original['Subject']}\n\n"
    )
    body = (
        "Hej,\n\n"
        + "\n".join(lines)
        + "\n\nMed vänliga hälsningar\nAnna Andersson\nInformationssäkerhetssamordnare\nExempelby kommun\nTel: 08-123 45 67\n\n"
        + header
        + _text(original)
    )
    msg.set_content(body, cte="quoted-printable")
    html = (
        "<html><body><div>Hej,</div>"
        + "".join(f"<div>{escape(x)}</div>" for x in lines)
        + "<div><br></div><div>Med vänliga hälsningar<br>Anna Andersson</div>"
        + '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>Från:</b> '
        + escape(_from_name(original))
        + "<br><b>Skickat:</b> den 4 mars 2027 09:01</div>"
        + "<div>"
        + escape(_text(original)).replace("\n", "<br>")
        + "</div></body></html>"
    )
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return bytes(msg)


def outlook_web_html_only_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    html = (
        '<html><head><style>p{margin:0}</style></head><body><div style="font-family:Calibri">'
        + "".join(f"<div>{escape(x)}</div>" for x in lines)
        + '</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg" dir="ltr"><font><b>Från:</b> '
        + escape(_from_name(original))
        + "<br><b>Skickat:</b> torsdag den 4 mars 2027 09:01<br><b>Ämne:</b> "
        + escape(str(original["Subject"]))
        + "</font><div>&nbsp;</div></div><div>"
        + escape(_text(original)).replace("\n", "<br>")
        + "</div></body></html>"
    )
    msg.set_content(html, subtype="html", cte="base64")
    return bytes(msg)


def outlook_ios_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    body = (
        "\n".join(lines)
        + "\n\nHämta Outlook för iOS\n________________________________\nFrån: "
        + _from_name(original)
        + "\nSkickat: Thursday, March 4, 2027 9:01:00 AM\nTill: "
        + sender
        + "\nÄmne: "
        + str(original["Subject"])
        + "\n\n"
        + _text(original)
    )
    msg.set_content(body, cte="base64")
    return bytes(msg)


def gmail_web_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    attribution = f"Den tors 4 mars 2027 kl 09:01 skrev {_from_name(original)}:"
    msg.set_content(
        "\n".join(lines) + "\n\n" + attribution + "\n\n" + _quoted(_text(original)), cte="quoted-printable"
    )
    html = (
        '<div dir="ltr">'
        + "".join(f"<div>{escape(x)}</div>" for x in lines)
        + '</div><br><div class="gmail_quote">'
        + f'<div dir="ltr" class="gmail_attr">{escape(attribution)}<br></div><blockquote class="gmail_quote">'
        + escape(_text(original)).replace("\n", "<br>")
        + "</blockquote></div>"
    )
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return bytes(msg)


def gmail_inline_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    """Answers written under each quoted question (answer lines without the question id)."""
    msg = _base(original, sender)
    answers = {line.split()[0]: " ".join(line.split()[1:]) for line in lines}
    out = [f"Den tors 4 mars 2027 kl 09:01 skrev {_from_name(original)}:", ""]
    for line in _text(original).splitlines():
        out.append("> " + line if line else ">")
        head = line.split(maxsplit=1)[0] if line.strip() else ""
        if head in answers and len(line.split()) > 2:  # the question line, not the answer block
            out.extend(["", answers.pop(head), ""])
    msg.set_content("Svar under frågorna.\n\n" + "\n".join(out), cte="8bit")
    return bytes(msg)


def gmail_android_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    attribution = f"Den fre 5 mars 2027 10:15{_from_name(original)} skrev:"
    msg.set_content("\n".join(lines) + "\n\n" + attribution + "\n\n" + _quoted(_text(original)), cte="base64")
    return bytes(msg)


def apple_iphone_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    attribution = f"4 mars 2027 kl. 09:01 skrev {_from_name(original)}:"
    msg.set_content(
        "\n".join(lines)
        + "\n\nSkickat från min iPhone\n\n> "
        + attribution
        + "\n>\n"
        + _quoted(_text(original)),
        cte="quoted-printable",
    )
    return bytes(msg)


def apple_mail_macos_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    attribution = f"4 mars 2027 kl. 09:01 skrev {_from_name(original)}:"
    msg.set_content(
        "Hej!\n\n" + "\n".join(lines) + "\n\n/Anna\n\n> " + attribution + "\n> \n" + _quoted(_text(original)),
        cte="quoted-printable",
    )
    return bytes(msg)


def thunderbird_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    attribution = f"Den 2027-03-04 kl. 09:01, skrev {_from_name(original)}:"
    msg.set_content(
        "\n".join(lines)
        + "\n\n-- \nAnna Andersson\nExempelby kommun\n\n"
        + attribution
        + "\n"
        + _quoted(_text(original)),
        cte="8bit",
    )
    msg.set_param("format", "flowed")
    return bytes(msg)


def outlook_windows_cp1252_sv(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender)
    body = (
        "\n".join(lines)
        + "\n\nMvh Anna\n\n-----Ursprungligt meddelande-----\nFrån: "
        + _from_name(original)
        + "\nSkickat: den 4 mars 2027 09:01\nÄmne: "
        + str(original["Subject"])
        + "\n\n"
        + _text(original)
    )
    msg.set_content(body, charset="windows-1252", cte="quoted-printable")
    return bytes(msg)


def gmail_web_en(original: EmailMessage, sender: str, lines: list[str]) -> bytes:
    msg = _base(original, sender, prefix="Re: ")
    attribution = f"On Thu, Mar 4, 2027 at 9:01 AM {_from_name(original)} wrote:"
    msg.set_content(
        "\n".join(lines) + "\n\nBest regards,\nAnna\n\n" + attribution + "\n\n" + _quoted(_text(original))
    )
    return bytes(msg)


CLIENTS: dict[str, Client] = {
    "outlook-windows-sv": outlook_windows_sv,
    "outlook-web-html-only-sv": outlook_web_html_only_sv,
    "outlook-ios-sv": outlook_ios_sv,
    "gmail-web-sv": gmail_web_sv,
    "gmail-inline-sv": gmail_inline_sv,
    "gmail-android-sv": gmail_android_sv,
    "apple-iphone-sv": apple_iphone_sv,
    "apple-mail-macos-sv": apple_mail_macos_sv,
    "thunderbird-sv": thunderbird_sv,
    "outlook-windows-cp1252-sv": outlook_windows_cp1252_sv,
    "gmail-web-en": gmail_web_en,
}
