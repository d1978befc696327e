"""The web chat in-process (aiohttp test client, no JavaScript), on SQLite and PostgreSQL.

Sign-in by mailed link, sessions and roles, CSRF and security headers, and every way of
answering through plain HTML forms (post, redirect, read the page again), plus the
WebSocket path and live updates from the mail channel.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.app import create_app
from bot.db.database import Database
from bot.db.tables import (
    AccessToken,
    Administrator,
    Answer,
    AnswerRevision,
    Contact,
    OutboxMessage,
    Response,
    now,
)
from bot.keys import TRANSCRIPTS
from bot.turn import handle_turn
from conversations.questionnaire import Model
from conversations.state import Turn
from tests.seed import Seeded, actor, seed
from tests.webutil import csrf_of, latest_link, signin_mails, web_settings

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def seeded(db: Database, model: Model) -> Seeded:
    return await seed(db, model)


@pytest.fixture
async def client(db: Database, tmp_path, aiohttp_client, seeded: Seeded) -> Client:  # type: ignore[no-untyped-def]
    app = create_app(web_settings(tmp_path), db=db, workers=False)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def ask_link(client: Client, db: Database, address: str) -> str:
    page = await (await client.get("/logga-in")).text()
    r = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": address})
    assert r.status == 200
    return await latest_link(db, address.strip().lower())


async def sign_in(client: Client, db: Database, address: str, identity: str | None = None) -> str:
    """Sign in through the mailed link; returns the page signed-in users land on."""
    link = await ask_link(client, db, address)
    page = await (await client.get(link)).text()
    data = {"csrf": csrf_of(page)}
    if identity is not None:
        data["identitet"] = identity
    r = await client.post(link, data=data)
    assert r.status == 200, await r.text()
    return await r.text()


async def post_chat(client: Client, rid: int, page: str, **form: Any) -> Any:
    return await client.post(f"/svar/{rid}", data={"csrf": csrf_of(page), **form}, allow_redirects=False)


async def answers(db: Database, rid: int) -> dict[str, Answer]:
    async with db.transaction(readonly=True) as s:
        rows = (await s.exec(select(Answer).where(Answer.response_id == rid))).all()
    return {a.question: a for a in rows}


async def status(db: Database, rid: int) -> str:
    async with db.transaction(readonly=True) as s:
        response = await s.get(Response, rid)
    assert response is not None
    return response.status


# --- sign-in ------------------------------------------------------------------------------------


async def test_signin_link_is_mailed_and_only_the_post_uses_it(client: Client, db: Database) -> None:
    link = await ask_link(client, db, "Anna@Exempelby.se ")
    (mail,) = await signin_mails(db, "anna@exempelby.se")
    assert "inloggningslänk" in mail.subject.lower()
    for _ in range(2):  # a mail scanner following the link uses nothing up
        r = await client.get(link)
        assert r.status == 200
        assert "Logga in som anna@exempelby.se" in await r.text()
    async with db.transaction(readonly=True) as s:
        token = (await s.exec(select(AccessToken).where(AccessToken.purpose == "signin"))).one()
        assert token.used_at is None
        assert token.token_hash not in link  # only the digest is stored
    r = await client.post(
        link, data={"csrf": csrf_of(await (await client.get(link)).text())}, allow_redirects=False
    )
    assert r.status == 303
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    r = await client.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/svar/")


async def test_signin_link_used_twice_is_refused(client: Client, db: Database) -> None:
    link = await ask_link(client, db, "anna@exempelby.se")
    page = await (await client.get(link)).text()
    assert (await client.post(link, data={"csrf": csrf_of(page)})).status == 200
    again = await client.post(link, data={"csrf": csrf_of(await (await client.get("/logga-in")).text())})
    assert again.status == 403
    assert "redan använts" in await again.text()
    shown = await client.get(link)
    assert shown.status == 403 and "redan använts" in await shown.text()


async def test_expired_signin_link_is_refused(client: Client, db: Database) -> None:
    link = await ask_link(client, db, "anna@exempelby.se")
    async with db.transaction() as s:
        await s.exec(sa.update(AccessToken).values(expires_at=now() - timedelta(seconds=1)))
    r = await client.get(link)
    assert r.status == 403
    text = await r.text()
    assert "har gått ut" in text and 'href="/logga-in"' in text


async def test_unknown_address_gets_the_same_page_and_no_mail(client: Client, db: Database) -> None:
    def normalised(html: str, address: str) -> str:
        return re.sub(r'value="[^"]+"', "", html).replace(address, "ADDRESS")

    page = await (await client.get("/logga-in")).text()
    known = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "anna@exempelby.se"})
    unknown = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "nobody@exempelby.se"})
    assert known.status == unknown.status == 200
    assert normalised(await known.text(), "anna@exempelby.se") == normalised(
        await unknown.text(), "nobody@exempelby.se"
    )
    assert await signin_mails(db, "nobody@exempelby.se") == []
    bad = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "inte en adress"})
    assert bad.status == 400
    text = await bad.text()
    assert 'aria-describedby="epost-fel"' in text and 'aria-invalid="true"' in text


async def test_signin_requests_are_rate_limited(client: Client, db: Database) -> None:
    page = await (await client.get("/logga-in")).text()
    for _ in range(5):
        r = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "anna@exempelby.se"})
        assert r.status == 200
    r = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "anna@exempelby.se"})
    assert r.status == 429
    assert "För många" in await r.text()
    # the same client, another address: the per-client limit holds as well
    r = await client.post("/logga-in", data={"csrf": csrf_of(page), "epost": "bo@exempelby.se"})
    assert r.status == 429
    assert len(await signin_mails(db, "anna@exempelby.se")) == 5


async def test_an_address_in_two_organisations_chooses_which(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    other = await seed(db, model, name="Annanstad kommun", orgnr="2120000159", domain="annanstad.se")
    async with db.transaction() as s:
        s.add(Contact(organisation_id=other.organisation_id, email="anna@exempelby.se", coordinator=True))
    link = await ask_link(client, db, "anna@exempelby.se")
    page = await (await client.get(link)).text()
    assert "Annanstad kommun" in page and "Exempelby kommun" in page
    async with db.transaction(readonly=True) as s:
        contact = (
            await s.exec(
                select(Contact).where(
                    Contact.email == "anna@exempelby.se", Contact.organisation_id == other.organisation_id
                )
            )
        ).one()
    r = await client.post(
        link, data={"csrf": csrf_of(page), "identitet": f"c:{contact.id}"}, allow_redirects=False
    )
    assert r.status == 303
    r = await client.get("/", allow_redirects=False)
    assert r.headers["Location"] == f"/svar/{other.response_id}"


async def test_a_link_cannot_sign_in_as_someone_else(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    await seed(db, model, name="Annanstad kommun", orgnr="2120000159", domain="annanstad.se")
    async with db.transaction(readonly=True) as s:
        stranger = (await s.exec(select(Contact).where(Contact.email == "anna@annanstad.se"))).one()
    link = await ask_link(client, db, "anna@exempelby.se")
    page = await (await client.get(link)).text()
    r = await client.post(link, data={"csrf": csrf_of(page), "identitet": f"c:{stranger.id}"})
    assert r.status == 403
    assert "inte inloggning" in await r.text()
    async with db.transaction(readonly=True) as s:
        assert (await s.exec(select(AccessToken).where(AccessToken.purpose == "session"))).all() == []


# --- sessions, roles, CSRF, headers --------------------------------------------------------------


async def test_security_headers_on_every_kind_of_page(client: Client, db: Database, seeded: Seeded) -> None:
    pages = ["/logga-in", "/model", "/finns-inte", "/static/chat.css"]
    for path in pages:
        r = await client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "camera=()" in r.headers["Permissions-Policy"]
    page = await sign_in(client, db, "anna@exempelby.se")
    assert "<style" not in page and " style=" not in page and "<script>" not in page
    missing = await client.get("/finns-inte")
    assert missing.status == 404 and "Sidan finns inte" in await missing.text()


async def test_forged_csrf_token_and_foreign_origin_are_refused(
    client: Client, db: Database, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    r = await client.post(
        f"/svar/{rid}", data={"csrf": "forged", "fraga": "1.1", "val": "a", "handling": "svara"}
    )
    assert r.status == 403
    assert "säkerhetskontrollen" in await r.text()
    r = await client.post(
        f"/svar/{rid}",
        data={"csrf": csrf_of(page), "fraga": "1.1", "val": "a", "handling": "svara"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status == 403
    assert "annan webbplats" in await r.text()
    r = await client.post("/logga-in", data={"epost": "anna@exempelby.se"})
    assert r.status == 403
    assert await answers(db, rid) == {}
    # the real token from this site works
    r = await post_chat(client, rid, page, fraga="1.1", val="a", saker="ja", handling="svara")
    assert r.status == 303


async def test_another_organisations_response_is_refused(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    other = await seed(db, model, name="Annanstad kommun", orgnr="2120000159", domain="annanstad.se")
    page = await sign_in(client, db, "anna@annanstad.se")  # a session of another organisation
    r = await client.get(f"/svar/{seeded.response_id}")
    assert r.status == 403
    assert "annan organisation" in await r.text()
    r = await post_chat(client, seeded.response_id, page, fraga="1.1", val="a", handling="svara")
    assert r.status == 403
    assert (await client.get(f"/svar/{seeded.response_id}/klar")).status == 403
    assert (await client.get(f"/svar/{other.response_id}")).status == 200
    assert (await client.get("/svar/99999")).status == 404
    assert await answers(db, seeded.response_id) == {}


async def test_not_signed_in_goes_to_signin(client: Client, seeded: Seeded) -> None:
    for path in ("/", f"/svar/{seeded.response_id}", "/oversikt"):
        r = await client.get(path, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/logga-in"


async def test_manager_reads_but_cannot_answer(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "chef@exempelby.se")
    assert "Fråga 1.1" in page
    assert 'name="handling" value="svara"' not in page
    assert "kan läsa svaret men inte svara" in page
    r = await post_chat(client, seeded.response_id, page, fraga="1.1", val="a", saker="ja", handling="svara")
    assert r.status == 403
    assert await answers(db, seeded.response_id) == {}


async def test_administrator_sees_all_and_answers_nothing(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    other = await seed(db, model, name="Annanstad kommun", orgnr="2120000159", domain="annanstad.se")
    async with db.transaction() as s:
        s.add(Administrator(email="admin@mcf.se", name="Ada"))
    await sign_in(client, db, "admin@mcf.se")
    r = await client.get("/")
    overview = await r.text()
    assert r.url.path == "/oversikt"
    assert "Exempelby kommun" in overview and "Annanstad kommun" in overview
    page = await (await client.get(f"/svar/{other.response_id}")).text()
    assert "administratör" in page and 'value="svara"' not in page
    r = await post_chat(client, other.response_id, page, fraga="1.1", val="a", handling="svara")
    assert r.status == 403
    assert "administratör" in await r.text()
    assert (await client.get(f"/svar/{seeded.response_id}/klar")).status == 403


async def test_contacts_cannot_open_the_overview(client: Client, db: Database) -> None:
    await sign_in(client, db, "anna@exempelby.se")
    assert (await client.get("/oversikt")).status == 403


async def test_sign_out_ends_the_session(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    r = await client.post("/logga-ut", data={"csrf": csrf_of(page)}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/logga-in?utloggad=1"
    async with db.transaction(readonly=True) as s:
        assert (await s.exec(select(AccessToken).where(AccessToken.purpose == "session"))).all() == []
    r = await client.get(f"/svar/{seeded.response_id}", allow_redirects=False)
    assert r.status == 303


async def test_expired_session_signs_out(client: Client, db: Database, seeded: Seeded) -> None:
    await sign_in(client, db, "anna@exempelby.se")
    async with db.transaction() as s:
        await s.exec(
            sa.update(AccessToken)
            .where(col(AccessToken.purpose) == "session")
            .values(expires_at=now() - timedelta(minutes=1))
        )
    r = await client.get(f"/svar/{seeded.response_id}", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/logga-in"


async def test_language_choice_gives_english_pages(client: Client, db: Database, seeded: Seeded) -> None:
    await sign_in(client, db, "anna@exempelby.se")
    r = await client.get(f"/sprak/en?next=/svar/{seeded.response_id}")
    page = await r.text()
    assert '<html lang="en">' in page
    assert "Question 1.1" in page and "Has management directed" in page
    assert (await client.get("/sprak/en?next=https://evil.example/", allow_redirects=False)).headers[
        "Location"
    ] == "/"


# --- answering with plain forms (JavaScript off) ---------------------------------------------------


async def test_answer_by_clicking_then_the_next_question(
    client: Client, db: Database, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    assert "Fråga 1.1" in page and 'role="log"' in page and 'aria-live="polite"' in page
    r = await post_chat(
        client, rid, page, fraga="1.1", val=["a", "c"], saker="ja", kommentar="beslut 2026", handling="svara"
    )
    assert r.status == 303
    location = r.headers["Location"]
    assert location.startswith(f"/svar/{rid}#m")  # PRG, to the newest bot message
    page = await (await client.get(location)).text()
    assert f'id="{location.split("#")[1]}"' in page
    assert "Registrerat" in page and "Fråga 1.2" in page
    assert "i webbchatten" not in page  # one's own answers are not told again as someone else's
    stored = (await answers(db, rid))["1.1"]
    assert (stored.options, stored.certain, stored.comment, stored.channel) == (
        "a c",
        True,
        "beslut 2026",
        "web",
    )
    assert await status(db, rid) == "in_progress"


async def test_answer_by_typing_in_the_reply_format(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    r = await post_chat(client, rid, page, fraga="1.1", text="1.2 a b säker\nb c osäker", handling="skriv")
    page = await (await client.get(r.headers["Location"])).text()
    stored = await answers(db, rid)
    assert stored["1.2"].options == "a b" and stored["1.2"].certain is True
    assert stored["1.1"].options == "b c" and stored["1.1"].certain is False  # the question on screen
    assert "1.2 a b säker" in page


async def test_a_mistake_is_explained_and_the_question_stays(
    client: Client, db: Database, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    r = await post_chat(client, rid, page, fraga="1.3", val=["a", "c"], saker="ja", handling="svara")
    assert r.headers["Location"].startswith(f"/svar/{rid}?fraga=1.3#m")
    page = await (await client.get(r.headers["Location"])).text()
    assert "intill varandra" in page
    assert 'id="q-error"' in page and 'aria-describedby="opt-hint q-error"' in page
    assert "1.3" not in await answers(db, rid)
    r = await post_chat(client, rid, page, fraga="1.3", handling="svara")  # nothing chosen
    page = await (await client.get(r.headers["Location"])).text()
    assert "Inget svarsalternativ" in page


async def test_skip_jump_and_change_an_earlier_answer(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    r = await post_chat(client, rid, page, fraga="1.1", handling="hoppa")
    page = await (await client.get(r.headers["Location"])).text()
    assert (await answers(db, rid))["1.1"].skipped
    assert "Fråga 1.2" in page and "överhoppad" in page
    r = await post_chat(client, rid, page, fraga="1.2", val="a", saker="nej", handling="svara")
    # jump back to the skipped question and answer it; then change 1.2
    page = await (await client.get(f"/svar/{rid}?fraga=1.1")).text()
    assert "Fråga 1.1" in page and 'aria-current="step"' in page
    await post_chat(client, rid, page, fraga="1.1", val="g", saker="ja", handling="svara")
    page = await (await client.get(f"/svar/{rid}?fraga=1.2")).text()
    assert "Nuvarande svar" in page and 'id="val-a" checked' in page
    await post_chat(client, rid, page, fraga="1.2", val=["b", "c"], saker="ja", handling="svara")
    stored = await answers(db, rid)
    assert stored["1.1"].options == "g" and not stored["1.1"].skipped
    assert stored["1.2"].options == "b c" and stored["1.2"].revision == 2


async def test_validation_questions_take_a_value(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    page = await (await client.get(f"/svar/{rid}?fraga=V1")).text()
    assert 'id="varde"' in page
    await post_chat(client, rid, page, fraga="V1", varde="40", handling="svara")
    await post_chat(client, rid, page, fraga="V6", val="b", handling="svara")
    stored = await answers(db, rid)
    assert stored["V1"].value == "40" and stored["V6"].value == "b"


async def test_klar_and_skicka_in_for_the_coordinator_only(
    client: Client, db: Database, seeded: Seeded, aiohttp_client, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    rid = seeded.response_id
    other = await aiohttp_client(create_app(web_settings(tmp_path), db=db, workers=False))
    page = await sign_in(other, db, "bo@exempelby.se")  # a respondent
    assert "/klar" not in page
    assert (await other.get(f"/svar/{rid}/klar")).status == 403

    page = await sign_in(client, db, "anna@exempelby.se")
    await post_chat(client, rid, page, fraga="1.1", val="a", saker="ja", handling="svara")
    confirm = await (await client.get(f"/svar/{rid}/klar")).text()
    assert "Obesvarade frågor räknas som 0 poäng" in confirm
    r = await client.post(f"/svar/{rid}/klar", data={"csrf": csrf_of(confirm)}, allow_redirects=False)
    assert r.status == 303
    page = await (await client.get(r.headers["Location"])).text()
    assert await status(db, rid) == "completed"
    assert "har poängsatts" in page and f"/svar/{rid}/skicka-in" in page
    confirm = await (await client.get(f"/svar/{rid}/skicka-in")).text()
    r = await client.post(f"/svar/{rid}/skicka-in", data={"csrf": csrf_of(confirm)})
    page = await r.text()
    assert await status(db, rid) == "submitted"
    assert "inskickat" in page and 'value="svara"' not in page
    async with db.transaction(readonly=True) as s:
        kinds = {m.kind for m in (await s.exec(select(OutboxMessage))).all()}
    assert "feedback" in kinds  # completion mailed to the coordinator and managers


async def test_an_answer_by_mail_appears_in_the_chat(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    await handle_turn(db, model, rid, Turn(actor(seeded.respondent), "mail", now(), "1.1 a b säker"))
    page = await (await client.get(f"/svar/{rid}")).text()
    assert "bo@exempelby.se via mejl" in page and "1.1 a b säker" in page
    assert "Fråga 1.2" in page


async def test_an_answer_by_mail_between_page_and_post_is_told_after_the_post(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    """The transcript's cursor moves past one's own answers only while nobody else answered:
    a mail answer stored after the page was shown, before the page's own post, is still told."""
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    await handle_turn(db, model, rid, Turn(actor(seeded.respondent), "mail", now(), "1.2 a säker"))
    r = await post_chat(client, rid, page, fraga="1.1", val=["a"], saker="ja", handling="svara")
    page = await (await client.get(r.headers["Location"])).text()
    assert "bo@exempelby.se via mejl" in page and "1.2 a säker" in page
    assert "i webbchatten" not in page


# --- the WebSocket ---------------------------------------------------------------------------------------


async def open_socket(client: Client, rid: int, page: str) -> Any:
    """The chat page's WebSocket, opened with the page's CSRF token, as chat.js opens it."""
    return await client.ws_connect(f"/svar/{rid}/ws?csrf={csrf_of(page)}")


async def send_answer(ws: Any, qid: str, letters: list[str]) -> None:
    """The chat form's answer to ``qid`` with ``letters``, a certain assessment, sent as a turn."""
    await ws.send_json(
        {"type": "turn", "form": {"fraga": qid, "val": letters, "saker": "ja", "handling": "svara"}}
    )


async def receive_update(ws: Any) -> dict[str, Any]:
    msg = await ws.receive(timeout=10)
    data = json.loads(msg.data)
    assert data["type"] == "update", data
    return data  # type: ignore[no-any-return]


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])  # also on the service's loop
async def test_websocket_turns_and_live_updates(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    assert (await client.get(f"/svar/{rid}/ws?csrf=forged")).status == 403
    ws = await open_socket(client, rid, page)
    try:
        await send_answer(ws, "1.1", ["a", "b"])
        update = await receive_update(ws)
        assert update["shown"] == "1.2" and update["focus"] == "question"
        assert any("Registrerat" in e for e in update["entries"])
        assert "Fråga 1.2" in update["question"] and "1/40" in update["progress"]
        await ws.send_json({"type": "show", "question": "1.1"})
        update = await receive_update(ws)
        assert update["shown"] == "1.1" and update["entries"] == []
        # an answer by mail, while the page is open
        await handle_turn(db, model, rid, Turn(actor(seeded.respondent), "mail", now(), "1.2 a säker"))
        update = await receive_update(ws)
        assert update["focus"] is None
        assert any("via mejl" in e and "1.2 a säker" in e for e in update["entries"])
        assert "2/40" in update["progress"]
        # the answers were read again from the database: only the changed answer's section is sent
        assert list(update["sections"]) == [
            next(str(n) for n, s in enumerate(model.sections, 1) if "1.2" in s.questions)
        ]
    finally:
        await ws.close()
    stored = await answers(db, rid)
    assert stored["1.1"].channel == "web" and stored["1.2"].channel == "mail"


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])  # also on the service's loop
async def test_websocket_own_turns_move_the_transcripts_cursor(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    """Own answers move the transcript's cursor past their revisions, so catching up later reads
    only what others stored, and tells it once."""
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    ws = await open_socket(client, rid, page)
    try:
        for qid in ("1.1", "1.2", "1.1"):
            await send_answer(ws, qid, ["a"])
            await receive_update(ws)
        # a typed reply that stores two revisions in one turn
        await ws.send_json(
            {
                "type": "turn",
                "form": {"fraga": "1.1", "handling": "skriv", "text": "1.1 b säker\n2.1 a säker"},
            }
        )
        assert "3/40" in (await receive_update(ws))["progress"]
        async with db.transaction(readonly=True) as s:
            assert (await s.exec(select(sa.func.count()).select_from(AnswerRevision))).one() == 5
        async with db.transaction(readonly=True) as s:
            newest = (await s.exec(select(sa.func.max(col(AnswerRevision.id))))).one()
        (transcript,) = [t for (_, r), t in client.server.app[TRANSCRIPTS]._items.items() if r == rid]
        assert transcript.cursor == newest
        await handle_turn(db, model, rid, Turn(actor(seeded.respondent), "mail", now(), "1.3 a säker"))
        update = await receive_update(ws)
        assert (
            len(update["entries"]) == 1
            and "via mejl" in update["entries"][0]
            and "1.3 a säker" in update["entries"][0]
        )
        assert transcript.cursor == newest + 1
    finally:
        await ws.close()


async def test_a_pages_own_turn_is_told_to_its_other_pages_not_to_itself(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    first = await open_socket(client, rid, page)
    second = await open_socket(client, rid, page)
    try:
        await send_answer(first, "1.1", ["a"])
        own = await receive_update(first)
        assert own["focus"] == "question" and "1/40" in own["progress"]
        live = await receive_update(second)  # the other page of the response hears of it
        assert live["focus"] is None and "1/40" in live["progress"]
        # and the page that took the turn gets no notice of its own: its next message is the
        # answer to what it asks next
        await first.send_json({"type": "show", "question": "1.3"})
        after = await receive_update(first)
        assert after["shown"] == "1.3" and after["focus"] == "question" and after["entries"] == []
    finally:
        await first.close()
        await second.close()


@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])  # also on the service's loop
async def test_websocket_sends_only_the_parts_that_changed(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    ws = await open_socket(client, rid, page)
    try:
        await ws.send_json({"type": "show", "question": "1.1"})
        first = await receive_update(ws)
        assert {
            "question",
            "status",
            "progress",
            "sections",
        } <= first.keys()  # a new socket sends everything once
        assert set(first["sections"]) == {str(n) for n in range(1, len(model.sections) + 1)}
        section_of = {q: str(n) for n, s in enumerate(model.sections, 1) for q in s.questions}
        # typed: an answer to 2.1 while 1.1 stays on screen; only status, progress and 2.1's section change
        await ws.send_json(
            {"type": "turn", "form": {"fraga": "1.1", "handling": "skriv", "text": "2.1 a säker"}}
        )
        update = await receive_update(ws)
        assert "question" not in update and update["shown"] == "1.1"
        assert "1/40" in update["progress"] and "1 av 40" in update["status"]
        assert set(update["sections"]) == {section_of["2.1"]}
        assert 'data-question="2.1"' in update["sections"][section_of["2.1"]]
        await ws.send_json({"type": "show", "question": "1.1"})
        again = await receive_update(ws)
        assert again.keys() & {"question", "status", "progress", "sections"} == set()  # nothing changed
        await ws.send_json({"type": "show", "question": "1.2"})
        moved = await receive_update(ws)
        assert "Fråga 1.2" in moved["question"] and "progress" not in moved
        assert set(moved["sections"]) == {section_of["1.2"]}  # the open question's index line
        assert (
            'data-question="1.2" class="q-open" aria-current="step"' in moved["sections"][section_of["1.2"]]
        )
    finally:
        await ws.close()


def _part(page: str, element: str, end: str) -> str:
    """The inner HTML of an element (its start tag given) on a page, without surrounding whitespace."""
    m = re.search(re.escape(element) + r"[^>]*>\n(.*?)\n\s*" + re.escape(end), page, re.S)
    assert m is not None, element
    return m.group(1).strip()


async def test_live_parts_are_the_pages_and_carry_their_own_response_and_token(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    """The question, index and status are rendered once and shared between pages (bot/web/parts.py):
    each page still gets its own response id and CSRF token, and the socket sends what the page shows."""
    other = await seed(db, model, name="Annanstad kommun", orgnr="2120000159", domain="annanstad.se")
    shown: dict[int, tuple[str, str]] = {}
    for address, rid in (("anna@exempelby.se", seeded.response_id), ("anna@annanstad.se", other.response_id)):
        client.session.cookie_jar.clear()  # another browser
        await sign_in(client, db, address)
        page = await (await client.get(f"/svar/{rid}")).text()
        token = csrf_of(page)
        question = _part(page, '<section class="question" id="question"', "</section>\n  </div>")
        sidebar = _part(page, '<aside class="sidebar" id="sidebar"', "</aside>")
        assert f'action="/svar/{rid}"' in question and f'value="{token}"' in question
        assert f'href="/svar/{rid}?fraga=1.1"' in sidebar
        ws = await client.ws_connect(f"/svar/{rid}/ws?csrf={token}")
        try:
            await ws.send_json({"type": "show", "question": "1.1"})
            update = await receive_update(ws)
        finally:
            await ws.close()
        assert update["question"].strip() == question
        # the sidebar is its progress part and the index's sections, in order
        assert sidebar.startswith(update["progress"].strip())
        assert list(update["sections"]) == [str(n) for n in range(1, len(model.sections) + 1)]
        assert "\n".join(update["sections"].values()).strip() in sidebar
        assert update["status"].strip() in page
        shown[rid] = (token, question + sidebar)
    (a_token, a_html), (b_token, b_html) = shown[seeded.response_id], shown[other.response_id]
    assert f"/svar/{other.response_id}" not in a_html and b_token not in a_html
    assert f"/svar/{seeded.response_id}" not in b_html and a_token not in b_html


async def test_websocket_refuses_a_foreign_origin_and_readers_turns(
    client: Client, db: Database, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "chef@exempelby.se")
    rid = seeded.response_id
    r = await client.get(
        f"/svar/{rid}/ws?csrf={csrf_of(page)}",
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert r.status == 403
    ws = await open_socket(client, rid, page)
    await ws.send_json({"type": "turn", "form": {"fraga": "1.1", "val": ["a"], "handling": "svara"}})
    await ws.send_json({"type": "show", "question": "1.2"})
    update = await receive_update(ws)
    assert update["shown"] == "1.2"
    await ws.close()
    assert await answers(db, rid) == {}


async def test_websocket_catches_up_a_page_older_than_the_response(
    client: Client, db: Database, model: Model, seeded: Seeded
) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    version = re.search(r'data-version="(\d+)"', page)
    assert version is not None and version.group(1) == "0"
    await handle_turn(db, model, rid, Turn(actor(seeded.respondent), "mail", now(), "1.1 a säker"))
    ws = await client.ws_connect(f"/svar/{rid}/ws?csrf={csrf_of(page)}&v=0&e=1")
    try:
        update = await receive_update(ws)
        assert update["focus"] is None and update["version"] == 1
        assert any("via mejl" in e for e in update["entries"])
    finally:
        await ws.close()


async def test_the_feedback_report_page_once_scored(client: Client, db: Database, seeded: Seeded) -> None:
    page = await sign_in(client, db, "anna@exempelby.se")
    rid = seeded.response_id
    assert (await client.get(f"/svar/{rid}/rapport")).status == 404
    assert "/rapport" not in page
    confirm = await (await client.get(f"/svar/{rid}/klar")).text()
    page = await (await client.post(f"/svar/{rid}/klar", data={"csrf": csrf_of(confirm)})).text()
    assert f'href="/svar/{rid}/rapport"' in page
    r = await client.get(f"/svar/{rid}/rapport")
    assert r.status == 200
    html = await r.text()
    assert "Återkoppling till" in html and "Exempelby" in html
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp
