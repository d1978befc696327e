"""The administration pages of the cycle (aiohttp test client), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from bot.app import create_app
from bot.cycle.deadline import close_cycle
from bot.cycle.launch import launch_cycle
from bot.db.database import Database
from bot.db.tables import AccessToken, Administrator, Contact, InboundMessage, Organisation, Response, now
from bot.reminders.run import run_reminders
from bot.tokens import digest, new_secret
from bot.turn import handle_turn
from bot.web import admin_cycles
from conversations.questionnaire import Model
from conversations.state import Actor, Turn
from tests.cycleseed import at, organisations, response_of, settings_for
from tests.webutil import csrf_of

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(db: Database, model: Model, tmp_path: Path, aiohttp_client: Any) -> Client:
    settings = settings_for(tmp_path, db, base_url="http://127.0.0.1:8080")
    orgs = await organisations(db, model, 4, manager_only=(3,))
    await launch_cycle(db, settings, model, "2027", now=at(2027, 3, 1, 9))
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.id is not None
    actor = Actor(orgs[0].coordinator or "", coordinator=True, respondent=True)
    await handle_turn(db, model, response.id, Turn(actor, "mail", at(2027, 3, 3), "1.1 a säker\n1.2 a säker"))
    await run_reminders(db, settings, model, now=at(2027, 3, 22, 9))
    async with db.transaction() as s:
        s.add(Administrator(email="admin@mcf.se", name="Ada"))
        failing = (await s.exec(select(Contact).where(Contact.email == orgs[1].coordinator))).one()
        failing.failing_since = now()
        s.add(failing)
        s.add(InboundMessage(message_id="<held@x>", raw=b"x", sender="kollega@org2.se", subject="Svar",
                             status="held", reason="waiting for approval", organisation_id=orgs[2].id))  # fmt: skip
    app = create_app(settings, db=db, workers=False)
    if not any(getattr(r.resource, "canonical", "") == "/admin/omgangar" for r in app.router.routes()):
        admin_cycles.setup_routes(app)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def sign_in_as(client: Client, db: Database, email: str) -> None:
    """A session for ``email`` (an administrator or a contact), as the sign-in link would make it."""
    secret = new_secret()
    async with db.transaction() as s:
        admin = (await s.exec(select(Administrator).where(Administrator.email == email))).first()
        contact = (await s.exec(select(Contact).where(Contact.email == email))).first()
        s.add(
            AccessToken(
                token_hash=digest(secret), purpose="session", created_at=now(),
                expires_at=now() + timedelta(hours=1),
                administrator_id=admin.id if admin else None, contact_id=contact.id if contact and not admin else None,
            )
        )  # fmt: skip
    client.session.cookie_jar.update_cookies({"assessbot": secret})


PAGES = [
    "/admin/omgangar",
    "/admin/omgangar/2027",
    "/admin/omgangar/2027/paminnelser",
    "/admin/organisationer",
    "/admin/organisationer/import",
    "/admin/studsar",
    "/admin/omgangar/2027/status.csv",
]


async def test_administrators_only(client: Client, db: Database) -> None:
    for path in PAGES:
        r = await client.get(path, allow_redirects=False)
        assert (r.status, r.headers.get("Location")) == (303, "/logga-in"), path
    await sign_in_as(client, db, "samordnare@org0.se")
    for path in PAGES:
        r = await client.get(path)
        assert r.status == 403, path
        assert "administratörer" in await r.text()
    await sign_in_as(client, db, "admin@mcf.se")
    for path in PAGES:
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/admin/omgangar/1999")).status == 404


async def test_cycle_status_per_type_and_organisations(client: Client, db: Database) -> None:
    await sign_in_as(client, db, "admin@mcf.se")
    page = await (await client.get("/admin/omgangar/2027")).text()
    assert "Antal organisationer per typ och status" in page
    assert '<th scope="col" class="num">påbörjad</th>' in page and '<th scope="row">region</th>' in page
    assert "Organisation 3" in page and "väntar på samordnare" in page
    assert "2/40" in page  # Organisation 0 has answered two questions
    filtered = await (await client.get("/admin/omgangar/2027?typ=myndighet")).text()
    assert "Organisation 2" in filtered and "Organisation 1<" not in filtered
    searched = await (await client.get("/admin/omgangar/2027?q=Organisation%200")).text()
    assert "1 organisationer" in searched
    listing = await (await client.get("/admin/omgangar")).text()
    assert '<a href="/admin/omgangar/2027">2027</a>' in listing


async def test_status_exports_parse_back(client: Client, db: Database) -> None:
    await sign_in_as(client, db, "admin@mcf.se")
    r = await client.get("/admin/omgangar/2027/status.csv")
    assert (
        r.headers["Content-Type"].startswith("text/csv") and "attachment" in r.headers["Content-Disposition"]
    )
    data = await r.read()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["Organisation", "Typ", "Organisationsnummer", "Län", "Status"]
    by_name = {row[0]: row for row in rows[1:]}
    assert len(by_name) == 4
    assert by_name["Organisation 0"][4] == "påbörjad" and by_name["Organisation 0"][6] == "2"
    assert by_name["Organisation 3"][4] == "väntar på samordnare"

    r = await client.get("/admin/omgangar/2027/status.xlsx")
    assert r.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(await r.read())).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Organisation" and len(values) == 5
    org0 = next(v for v in values if v[0] == "Organisation 0")
    assert org0[4] == "påbörjad" and org0[6] == 2 and org0[5] is not None  # a real date-time

    await client.get("/sprak/en")
    english = list(csv.reader(io.StringIO((await (await client.get("/admin/omgangar/2027/status.csv")).read()).decode("utf-8-sig")), delimiter=";"))  # fmt: skip
    assert english[0][:5] == ["Organisation", "Type", "Organisation number", "County", "Status"]
    assert {row[4] for row in english[1:]} >= {"in progress", "awaiting a coordinator"}


async def test_reopen_from_the_page(client: Client, db: Database) -> None:
    await close_cycle(db, "2027", now=at(2027, 10, 30, 0))
    await sign_in_as(client, db, "admin@mcf.se")
    page = await (await client.get("/admin/omgangar/2027")).text()
    assert "Öppna igen" in page
    async with db.transaction(readonly=True) as s:
        org = (await s.exec(select(Organisation).where(Organisation.name == "Organisation 2"))).one()
    no_token = await client.post("/admin/omgangar/2027/oppna", data={"organisation": str(org.id)})
    assert no_token.status == 403
    r = await client.post(
        "/admin/omgangar/2027/oppna",
        data={"csrf": csrf_of(page), "organisation": str(org.id), "till": "2099-12-31"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/admin/omgangar/2027?oppnad=Organisation%202"
    async with db.transaction(readonly=True) as s:
        response = (await s.exec(select(Response).where(Response.organisation_id == org.id))).one()
    assert response.status == "in_progress" and str(response.reopened_until) == "2099-12-31"
    shown = await (await client.get(r.headers["Location"])).text()
    assert "Svaret för Organisation 2 är öppnat igen." in shown
    twice = await client.post("/admin/omgangar/2027/oppna",
                              data={"csrf": csrf_of(page), "organisation": str(org.id)})  # fmt: skip
    assert twice.status == 400 and "inte stängt" in await twice.text()


async def test_reminders_page_shows_sent_and_coming(client: Client, db: Database) -> None:
    await sign_in_as(client, db, "admin@mcf.se")
    page = await (await client.get("/admin/omgangar/2027/paminnelser")).text()
    assert "Skickade: 3. Hoppade över: 0." in page
    assert "påminnelse efter uppehåll" in page and "samordnare@org0.se" in page
    assert "Kommande" in page and "utse samordnare" in page  # management of Organisation 3, later on


async def test_organisations_bounces_and_held_messages(client: Client, db: Database) -> None:
    await sign_in_as(client, db, "admin@mcf.se")
    page = await (await client.get("/admin/organisationer?q=org1")).text()
    assert "Organisation 1" in page and "adressen studsar sedan" in page and "Organisation 0" not in page
    typed = await (await client.get("/admin/organisationer?typ=region")).text()
    assert "Organisation 1" in typed and "Organisation 2" not in typed
    bounces = await (await client.get("/admin/studsar")).text()
    assert (
        "samordnare@org1.se" in bounces
        and "kollega@org2.se" in bounces
        and "väntar på godkännande" in bounces
    )


async def test_import_from_the_page(client: Client, db: Database) -> None:
    await sign_in_as(client, db, "admin@mcf.se")
    page = await (await client.get("/admin/organisationer/import")).text()
    body = (
        b"namn;typ;organisationsnummer;samordnare;ledning\n"
        b"Ny kommun;kommun;212000-0142;anna@ny.se;chef@ny.se\n"
        b"Trasig rad;stad;;inte-en-adress;\n"
        b"Organisation 0;kommun;;samordnare@org0.se;\n"
    )
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf", csrf_of(page))
    form.add_field("fil", body, filename="nya.csv", content_type="text/csv")
    r = await client.post("/admin/organisationer/import", data=form)
    text = await r.text()
    assert r.status == 200, text
    assert "Sparade 1 organisationer." in text and "rad 3" in text and "rad 4" in text
    async with db.transaction(readonly=True) as s:
        new = (await s.exec(select(Organisation).where(Organisation.name == "Ny kommun"))).one()
        contacts = (await s.exec(select(Contact).where(Contact.organisation_id == new.id))).all()
    assert sorted(c.email for c in contacts) == ["anna@ny.se", "chef@ny.se"]
    wrong = FormData()
    wrong.add_field("csrf", csrf_of(page))
    wrong.add_field("fil", b"x", filename="nya.pdf", content_type="application/pdf")
    assert (await client.post("/admin/organisationer/import", data=wrong)).status == 400
