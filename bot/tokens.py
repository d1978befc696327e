"""Unguessable tokens: signed reply-address tokens and random one-time secrets.

A reply token names a response in the reply address (``svar+TOKEN@reply-domain``): the
response id and an HMAC-SHA256 tag over it with the service's secret key, in lower-case
base32 so that mail systems that fold case keep it intact. It cannot be forged without
the key and needs no table. One-time secrets (sign-in links, sessions) are random and
only their SHA-256 digest is stored (see ``AccessToken``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

_TAG_BYTES = 12  # 96 bits of tag: forging one by guessing is out of reach


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def signed_token(secret: bytes, purpose: str, number: int) -> str:
    """A token naming ``number`` for ``purpose`` ("reply", "approve"), signed with ``secret``."""
    body = struct.pack(">Q", number)
    tag = hmac.new(secret, purpose.encode() + b":" + body, hashlib.sha256).digest()[:_TAG_BYTES]
    return _b32(body.lstrip(b"\0") or b"\0") + "-" + _b32(tag)


def read_signed_token(secret: bytes, purpose: str, token: str) -> int | None:
    """The number of a genuine token for ``purpose``, or None for anything else."""
    try:
        head, _, tag = token.strip().lower().partition("-")
        body = _unb32(head).rjust(8, b"\0")
        given = _unb32(tag)
    except (ValueError, TypeError):
        return None
    if len(body) != 8 or len(given) != _TAG_BYTES:
        return None
    expected = hmac.new(secret, purpose.encode() + b":" + body, hashlib.sha256).digest()[:_TAG_BYTES]
    if not hmac.compare_digest(expected, given):
        return None
    return int(struct.unpack(">Q", body)[0])


def reply_token(secret: bytes, response_id: int) -> str:
    """The token that routes replies to response ``response_id``."""
    return signed_token(secret, "reply", response_id)


def read_reply_token(secret: bytes, token: str) -> int | None:
    """The response id of a genuine reply token, or None for anything else."""
    return read_signed_token(secret, "reply", token)


def new_secret() -> str:
    """A random one-time secret for a link or a session (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a one-time secret."""
    return hashlib.sha256(secret.encode()).hexdigest()
