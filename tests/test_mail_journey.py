"""The whole mail journey against a real SMTP server on loopback (aiosmtpd).

A response is started; the first section mail is read from the SMTP sink; the coordinator
answers every section by replying from a different mail client each time (Outlook,
Gmail, Apple Mail, Thunderbird, Swedish and English, plain text, HTML-only, inline
answers); the answers are recorded, each reply gets a receipt listing what was recorded,
the next section follows by mail, and the last reply completes the response.
"""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

from bot.db.database import Database
from bot.db.tables import Cycle, Organisation, Response
from bot.mail.ingest import Ingestor
from bot.mail.sender import Sender
from bot.responses import start_response
from bot.settings import Settings
from bot.turn import load_state
from conversations.parsing import format_answer, format_validation
from conversations.questionnaire import Model
from tests.answerbuild import choice_for
from tests.clients import CLIENTS
from tests.seed import seed


class Sink:
    """An SMTP server that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content, policy=default))  # type: ignore[arg-type]
        return "250 OK"


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    return str(part.get_content()) if part is not None else ""


async def test_every_section_answered_by_mail_from_every_client(
    db: Database, model: Model, tmp_path: Path
) -> None:
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(
        secret_key="journey",
        var_dir=str(tmp_path),
        reply_domain="svar.example.se",
        mail_from="Infosäkkollen <infosakkollen@example.se>",
        smtp_url=f"smtp://127.0.0.1:{port}?tls=none",
        smtp_rate=0,
    )
    s = await seed(db, model)
    sender = Sender(db, settings)
    ingestor = Ingestor(db, settings, model)
    try:
        async with db.transaction() as session:
            await session.exec(Response.__table__.delete())  # type: ignore[attr-defined]
            org = await session.get(Organisation, s.organisation_id)
            cycle = await session.get(Cycle, s.cycle_id)
            assert org is not None and cycle is not None
            started = await start_response(session, settings, model, org, cycle)
            response_id = started.response.id
        assert response_id is not None
        await sender.deliver_due()
        assert len(sink.messages) == 1
        clients = list(CLIENTS.items())
        for index, section in enumerate(model.sections):
            section_mail = sink.messages[-1]
            assert section.title.get("sv") in str(section_mail["Subject"]), section_mail["Subject"]
            assert f"avsnitt {index + 1} av {len(model.sections)}" in str(section_mail["Subject"])
            lines = []
            for qid in section.questions:
                q = model.question(qid)
                if q is not None:
                    lines.append(format_answer(q, choice_for(q, min(5, q.level + 1)), True))
                else:
                    vq = model.validation_question(qid)
                    assert vq is not None
                    lines.append(format_validation(vq, vq.options[0].id if vq.kind == "choice" else "40"))
            name, client = clients[index % len(clients)]
            raw = client(section_mail, "Anna Andersson <anna@exempelby.se>", lines)
            result = await ingestor.ingest(raw, via="lmtp")
            assert result.status == "processed", (name, result)
            assert result.step is not None
            recorded = {
                r.question for r in result.step.replies if type(r).__name__ in ("Recorded", "ValueRecorded")
            }
            assert recorded == set(section.questions), (name, sorted(set(section.questions) - recorded))
            assert result.step.accepted, (
                name,
                [r for r in result.step.replies if type(r).__name__ == "Invalid"],
            )
            before = len(sink.messages)
            await sender.deliver_due()
            new = sink.messages[before:]
            receipts = [m for m in new if str(m["Subject"]).startswith("Kvitto")]
            assert len(receipts) == 1, (name, [m["Subject"] for m in new])
            receipt = text_of(receipts[0])
            for qid in section.questions:
                assert qid in receipt
            assert receipts[0]["In-Reply-To"] is not None
            assert receipts[0]["Auto-Submitted"] == "auto-replied"
            assert receipts[0].get_body(("html",)) is not None
        # the last section completed the response: the result went to the coordinator and the manager
        results = [m for m in sink.messages if str(m["Subject"]).startswith("Återkoppling")]
        assert sorted(str(m["To"]) for m in results) == sorted([s.coordinator.email, s.manager.email])
        async with db.transaction(readonly=True) as session:
            response = await session.get(Response, response_id)
            assert response is not None
            state = await load_state(session, response)
        assert response.status == "completed" and response.score is not None
        assert len(state.answers) == len(model.questions) + len(model.validation_questions)
        assert {rec.channel for rec in state.answers.values()} == {"mail"}
        feedback = results[0]
        assert [p.get_content_type() for p in feedback.iter_attachments()] == ["application/pdf"]
        assert any(p.get_content_type() == "image/png" for p in feedback.walk())
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
