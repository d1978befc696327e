"""The LMTP/SMTP listener started by ``assessbot serve``: an MTA hands inbound mail here.

Served with aiosmtpd's protocol classes directly on the running loop (``create_server``),
so it lives inside the aiohttp application. Recipients outside the reply domain are
refused at RCPT time (550); a message is acknowledged only after it is stored
(:meth:`bot.mail.ingest.Ingestor.ingest`), and a database outage answers 451 so that the
MTA keeps the message and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.mail.ingest import EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, Ingestor

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 40_000_000


class InboundHandler:
    """aiosmtpd handler: accept our recipients, ingest each message once."""

    def __init__(self, ingestor: Ingestor, reply_domain: str, via: str) -> None:
        self.ingestor = ingestor
        self.domain = reply_domain.lower().lstrip("@")
        self.via = via

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.domain and address.rpartition("@")[2].lower() != self.domain:
            return "550 5.1.1 Recipient not handled here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        result = await self.ingestor.ingest(raw, via=self.via, envelope_to=list(envelope.rcpt_tos))
        if result.code == EX_TEMPFAIL:
            status = "451 4.3.0 Temporary failure, try again later"
        elif result.code == EX_DATAERR:
            status = "554 5.6.0 Message not understood"
        elif result.code == EX_NOUSER:
            status = "550 5.1.1 Unknown recipient"
        else:
            status = "250 2.0.0 Message accepted"
        if isinstance(server, LMTP):  # LMTP answers once per recipient
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status


async def start_listener(
    ingestor: Ingestor, host: str, port: int, *, protocol: str = "lmtp", reply_domain: str = ""
) -> asyncio.AbstractServer:
    """Listen for LMTP (or SMTP) on ``host:port``; returns the server (close it to stop)."""
    handler = InboundHandler(ingestor, reply_domain, via=protocol)
    cls: Any = LMTP if protocol == "lmtp" else SMTP
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: cls(handler, hostname="assessbot", data_size_limit=MAX_MESSAGE_BYTES, decode_data=False),
        host=host,
        port=port,
    )
    log.info("listening for %s on %s:%s", protocol.upper(), host, port)
    return server
