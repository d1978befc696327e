"""``assessbot demo``: the seeded tour, the captured mail page, and answering "by mail" from it."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot.app import create_app
from bot.commands.demo import COORDINATOR, seed_demo
from bot.db.database import Database
from bot.db.tables import Answer, Contact, OutboxMessage, Response
from bot.mail.outbox import enqueue
from bot.mail.sender import Sender
from bot.settings import Settings
from conversations.questionnaire import Model
from tests.webutil import csrf_of, web_settings

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return web_settings(tmp_path)


@pytest.fixture
async def demo(db: Database, model: Model, settings: Settings, aiohttp_client: Any) -> Client:
    await seed_demo(db, settings, model)
    return await aiohttp_client(create_app(settings, db=db, workers=False, demo=True))  # type: ignore[no-any-return]


async def deliver(db: Database, settings: Settings) -> None:
    sender = Sender(db, settings)
    try:
        await sender.deliver_due()
    finally:
        await sender.close()


async def test_seeding_is_idempotent(db: Database, model: Model, settings: Settings) -> None:
    first = await seed_demo(db, settings, model)
    again = await seed_demo(db, settings, model)
    assert first.created and not again.created and first.response_id == again.response_id
    async with db.transaction(readonly=True) as s:
        assert len((await s.exec(select(Response))).all()) == 1
        assert len((await s.exec(select(Contact))).all()) == 3
        (mail,) = (await s.exec(select(OutboxMessage))).all()
    assert mail.recipient == COORDINATOR and mail.kind == "section"


async def test_captured_mail_page_sign_in_and_reply_by_mail(
    demo: Client, db: Database, settings: Settings
) -> None:
    await deliver(db, settings)
    listing = await (await demo.get("/demo/post")).text()
    assert "avsnitt 1 av 11" in listing
    # sign in through the mail shown on the demo page
    page = await (await demo.get("/logga-in")).text()
    assert "Demoläge" in page and COORDINATOR in page
    await demo.post("/logga-in", data={"csrf": csrf_of(page), "epost": COORDINATOR})
    await deliver(db, settings)
    listing = await (await demo.get("/demo/post")).text()
    keys = re.findall(r'href="/demo/post/([^"]+)"', listing)
    signin_page = await (await demo.get(f"/demo/post/{keys[0]}")).text()
    link = re.search(r'<a href="http://127\.0\.0\.1:8080(/logga-in/[^"]+)"', signin_page)
    assert link is not None, "the sign-in link is clickable"
    confirm = await (await demo.get(link.group(1))).text()
    chat = await (await demo.post(link.group(1), data={"csrf": csrf_of(confirm)})).text()
    assert "Demo kommun" in chat and "Fråga 1.1" in chat
    # reply to the section mail "by mail", from the demo page
    section_key = keys[-1]
    section = await (await demo.get(f"/demo/post/{section_key}")).text()
    assert "Svara som mottagaren" in section
    r = await demo.post(
        f"/demo/post/{section_key}/svar",
        data={"csrf": csrf_of(section), "svar": "1.1 a b säker\n1.2 a osäker"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"].endswith("?svarat=1")
    async with db.transaction(readonly=True) as s:
        answers = {a.question: a for a in (await s.exec(select(Answer))).all()}
        kinds = [m.kind for m in (await s.exec(select(OutboxMessage))).all()]
    assert answers["1.1"].channel == "mail" and answers["1.1"].by == COORDINATOR
    assert "receipt" in kinds
    chat = await (await demo.get("/")).text()
    assert f"{COORDINATOR} via mejl" in chat


async def test_html_parts_are_sandboxed(demo: Client, db: Database, settings: Settings) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.mail_from, COORDINATOR, "HTML"
    msg.set_content("text")
    msg.add_alternative("<p onclick='x()'>html</p><script>alert(1)</script>", subtype="html")
    async with db.transaction() as s:
        await enqueue(s, msg, key="html-test", kind="notice")
    await deliver(db, settings)
    listing = await (await demo.get("/demo/post")).text()
    key = re.search(r'href="/demo/post/([^"]+)">HTML<', listing)
    assert key is not None
    r = await demo.get(f"/demo/post/{key.group(1)}/html")
    assert r.status == 200
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert (await demo.get("/demo/post/../../etc/passwd")).status == 404
    assert (await demo.get("/demo/post/nonexistent")).status == 404


async def test_demo_pages_exist_only_in_demo_mode(
    db: Database, settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings, db=db, workers=False))
    assert (await client.get("/demo/post")).status == 404
