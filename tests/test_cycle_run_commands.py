"""``assessbot cycle launch|close|reopen`` as a person runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import orjson

from bot.db.database import Database
from conversations.questionnaire import Model
from tests.conftest_db import Cli
from tests.cycleseed import organisations, outbox, response_of, text_of


async def test_launch_close_reopen_commands(db: Database, model: Model, cli: Cli, tmp_path: Path) -> None:
    orgs = await organisations(db, model, 4, manager_only=(3,), cycle=False)
    created = cli("cycle", "create", "--name", "2027", "--launch", "2027-03-01", "--deadline", "2027-10-29")
    assert created.returncode == 0, created.stderr

    only = cli("cycle", "launch", "--name", "2027", "--type", "region", "--now", "2027-03-01T09:00")
    assert only.returncode == 0, only.stderr
    assert only.stdout.splitlines()[:3] == [
        "omgång 2027 lanserad: 1 mejl köade",
        "  1 svar startade (första avsnittet till samordnaren)",
        "  0 brev till ledningen om att utse en samordnare",
    ]
    launched = cli("cycle", "launch", "--name", "2027", "--now", "2027-03-01T09:05")
    assert launched.returncode == 0, launched.stderr
    assert "3 mejl köade" in launched.stdout and "1 brev till ledningen" in launched.stdout
    assert "1 hade redan fått sitt första mejl" in launched.stdout
    assert cli("cycle", "launch", "--name", "2027").stdout.startswith("omgång 2027 lanserad: 0 mejl köade")
    bad = cli("cycle", "launch", "--name", "2027", "--type", "stad")
    assert bad.returncode == 2 and "okänd organisationstyp" in bad.stderr
    missing = cli("cycle", "launch", "--name", "2031")
    assert missing.returncode == 1 and missing.stderr == "assessbot: ingen omgång heter '2031'\n"

    listed = orjson.loads(cli("cycle", "list", "--format", "json").stdout)
    assert listed[0]["status"] == "launched" and listed[0]["counts"]["invited"] == 3

    closed = cli("cycle", "close", "--name", "2027", "--now", "2027-10-30T00:00")
    assert closed.returncode == 0 and closed.stdout == "omgång 2027 stängd: 3 svar stängda, 0 inskickade\n"
    assert cli("cycle", "close", "--name", "2027").stdout == "omgång 2027 var redan stängd\n"

    reopened = cli("cycle", "reopen", "--name", "2027", "--org", orgs[0].name, "--until", "2027-11-15",
                   "--now", "2027-11-01T10:00")  # fmt: skip
    assert reopened.returncode == 0, reopened.stderr
    assert "till och med 2027-11-15" in reopened.stdout and "1 mejl till samordnaren" in reopened.stdout
    response = await response_of(db, orgs[0].id)
    assert response is not None and response.status == "in_progress"
    [notice] = [m for m in await outbox(db, "notice") if m.key.startswith("reopened:")]
    assert "15 november 2027" in text_of(notice)
    again = cli("cycle", "reopen", "--name", "2027", "--org", str(orgs[0].id))
    assert again.returncode == 1 and "är inte stängt" in again.stderr
    unknown = cli("cycle", "reopen", "--name", "2027", "--org", "Ingen sådan")
    assert unknown.returncode == 1 and "ingen organisation" in unknown.stderr
    bad_day = cli("cycle", "reopen", "--name", "2027", "--org", "1", "--until", "15/11")
    assert bad_day.returncode == 2 and "ogiltigt datum" in bad_day.stderr
