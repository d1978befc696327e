"""``assessbot demo-data`` and ``assessbot report national|benchmark`` as real commands, and the
administrators' analysis page, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.db.database import Database
from bot.db.tables import AccessToken, Administrator, Contact, now
from bot.tokens import digest
from bot.web import analysis
from conversations.questionnaire import Model
from tests.analysisdata import add_cycle, add_org, example, store_response
from tests.conftest_db import Cli
from tests.webutil import web_settings

Client = TestClient[web.Request, web.Application]


async def test_demo_data_and_national_report(db: Database, cli: Cli, tmp_path: Path) -> None:
    made = cli("demo-data", "--organisations", "40", "--cycles", "2", "--seed", "5")
    assert made.returncode == 0, made.stderr
    assert "40 organisationer" in made.stdout and "2021:" in made.stdout and "2023:" in made.stdout
    again = cli("demo-data", "--organisations", "40", "--cycles", "2", "--seed", "5")
    assert again.returncode == 1 and "innehåller redan demodata" in again.stderr

    shown = cli("report", "national", "--cycle", "2023", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report = orjson.loads(shown.stdout)
    assert report["cycle"] == "2023" and sum(report["levels"].values()) == report["submitted"] > 0
    assert [c["cycle"] for c in report["trend"]["cycles"]] == ["2021", "2023"]

    xlsx = tmp_path / "analys.xlsx"
    assert cli("report", "national", "--format", "xlsx", "--output", str(xlsx)).returncode == 0
    book = openpyxl.load_workbook(xlsx)
    assert "levels" in book.sheetnames and "trend" in book.sheetnames
    page = cli("report", "national", "--format", "html", "--lang", "en")
    assert page.returncode == 0 and page.stdout.startswith("<!doctype html>")
    assert "National analysis, cycle 2023" in page.stdout
    out = tmp_path / "csv"
    assert cli("report", "national", "--format", "csv", "--output", str(out)).returncode == 0
    assert (out / "levels.csv").read_text(encoding="utf-8").startswith("Nivå,Antal,Andel")

    dry = cli("report", "benchmark", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "skulle köas" in dry.stdout and "omgång 2023" in dry.stdout
    missing = cli("report", "national", "--cycle", "1999")
    assert missing.returncode == 1 and "ingen omgång heter '1999'" in missing.stderr


async def admin_client(
    db: Database, tmp_path: Path, aiohttp_client: Any, email: str, *, admin: bool
) -> Client:
    app = create_app(web_settings(tmp_path), db=db, workers=False)
    if not any(r.resource is not None and r.resource.canonical == "/analys" for r in app.router.routes()):
        analysis.setup_routes(app)  # until bot/app.py registers the page
    secret = secrets.token_urlsafe(24)
    async with db.transaction() as s:
        if admin:
            person = Administrator(email=email, name="Ada")
            s.add(person)
            await s.flush()
            token = AccessToken(token_hash=digest(secret), purpose="session", administrator_id=person.id,
                                expires_at=now() + timedelta(hours=1))  # fmt: skip
        else:
            org = await add_org(s, "Annan kommun", "kommun")
            contact = Contact(organisation_id=org, email=email, coordinator=True)
            s.add(contact)
            await s.flush()
            token = AccessToken(token_hash=digest(secret), purpose="session", contact_id=contact.id,
                                expires_at=now() + timedelta(hours=1))  # fmt: skip
        s.add(token)
    client: Client = await aiohttp_client(app)
    client.session.cookie_jar.update_cookies({"assessbot": secret})
    return client


async def test_analysis_page_for_administrators(
    db: Database, model: Model, tmp_path: Path, aiohttp_client: Any
) -> None:
    async with db.transaction() as s:
        cycle = await add_cycle(s, model, "2027", 2027)
        for n in range(6):
            org = await add_org(s, f"Kommun {n}", "kommun", "liten", "Skåne län")
            await store_response(s, model, org, cycle, example(n % 4))
    client = await admin_client(db, tmp_path, aiohttp_client, "admin@mcf.example", admin=True)
    r = await client.get("/analys")
    assert r.status == 200
    page = await r.text()
    assert (
        "Nationell analys, omgång 2027" in page
        and '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in page
    )
    assert '<link rel="stylesheet" href="/analys/analys.css">' in page
    assert "style-src 'self'" in r.headers["Content-Security-Policy"] and " style=" not in page
    css = await client.get("/analys/analys.css")
    assert css.status == 200 and css.content_type == "text/css"
    x = await client.get("/analys/export", params={"omgang": "2027", "format": "xlsx"})
    assert x.status == 200 and "attachment" in x.headers["Content-Disposition"]
    assert "levels" in openpyxl.load_workbook(io.BytesIO(await x.read())).sheetnames
    j = await client.get("/analys/export", params={"omgang": "2027", "format": "json"})
    assert orjson.loads(await j.read())["submitted"] == 6
    z = await client.get("/analys/export", params={"omgang": "2027", "format": "csv"})
    assert (await z.read())[:2] == b"PK"
    bad = await client.get("/analys/export", params={"omgang": "1999", "format": "json"})
    assert bad.status == 404


async def test_analysis_page_refuses_others(
    db: Database, model: Model, tmp_path: Path, aiohttp_client: Any
) -> None:
    client = await admin_client(db, tmp_path, aiohttp_client, "anna@kommun.example", admin=False)
    r = await client.get("/analys")
    assert r.status == 403 and "administratörer" in await r.text()
    r = await client.get("/analys/export", params={"omgang": "2027", "format": "json"})
    assert r.status == 403
    client.session.cookie_jar.clear()
    r = await client.get("/analys", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/logga-in"
