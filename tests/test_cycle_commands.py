"""``assessbot cycle create`` and ``cycle list``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
from sqlmodel import select

from bot.db.database import Database
from bot.db.tables import AuditEntry, Cycle, Organisation, Response
from tests.conftest_db import Cli, run_cli


async def test_cycle_create_and_list(db: Database, cli: Cli) -> None:
    created = cli("cycle", "create", "--name", "2027", "--launch", "2027-03-01", "--deadline", "2027-10-31")
    assert created.returncode == 0, created.stderr
    assert "omgång 2027 skapad" in created.stdout and "Europe/Stockholm" in created.stdout
    async with db.transaction() as session:
        cycle = (await session.exec(select(Cycle))).one()
        assert (cycle.launch, cycle.deadline, cycle.model_id, cycle.model_version, cycle.status) == (
            date(2027, 3, 1), date(2027, 10, 31), "msb-2021", "1", "planned",
        )  # fmt: skip
        audit = (await session.exec(select(AuditEntry))).one()
        assert (audit.actor, audit.action) == ("cli", "cycle.create")
        assert audit.details is not None and audit.details["opens"] == "2027-03-01T00:00:00+01:00"
        orgs = [Organisation(name=f"O{i}", type="kommun") for i in range(4)]
        session.add_all(orgs)
        await session.flush()
        for org, status in zip(orgs, ["invited", "in_progress", "in_progress", "submitted"], strict=True):
            assert org.id is not None and cycle.id is not None
            session.add(Response(organisation_id=org.id, cycle_id=cycle.id, model_id="msb-2021",
                                 model_version="1", status=status))  # fmt: skip
    assert (
        cli(
            "cycle", "create", "--name", "2025", "--launch", "2025-03-01", "--deadline", "2025-10-31"
        ).returncode
        == 0
    )

    listed = cli("cycle", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert orjson.loads(listed.stdout) == [
        {
            "name": "2025", "launch": "2025-03-01", "deadline": "2025-10-31", "model": "msb-2021",
            "model_version": "1", "status": "planned", "responses": 0,
            "counts": {"invited": 0, "in_progress": 0, "completed": 0, "submitted": 0, "closed": 0},
        },
        {
            "name": "2027", "launch": "2027-03-01", "deadline": "2027-10-31", "model": "msb-2021",
            "model_version": "1", "status": "planned", "responses": 4,
            "counts": {"invited": 1, "in_progress": 2, "completed": 0, "submitted": 1, "closed": 0},
        },
    ]  # fmt: skip
    text = cli("cycle", "list")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].split()[:3] == ["namn", "start", "sista"]
    assert text.stdout.splitlines()[2].split() == ["2027", "2027-03-01", "2027-10-31", "msb-2021", "v1", "planned",
                                                   "1", "2", "0", "1", "0"]  # fmt: skip


def test_cycle_create_refuses_bad_dates(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    backwards = run_cli(url, tmp_path, "cycle", "create", "--name", "2029", "--launch", "2029-03-01",
                        "--deadline", "2029-03-01")  # fmt: skip
    assert backwards.returncode == 1
    assert (
        backwards.stderr == "assessbot: sista dagen (2029-03-01) måste komma efter startdagen (2029-03-01)\n"
    )
    bad_date = run_cli(url, tmp_path, "cycle", "create", "--name", "2029", "--launch", "1 mars",
                       "--deadline", "2029-10-31")  # fmt: skip
    assert bad_date.returncode == 1
    assert bad_date.stderr == "assessbot: ogiltigt datum för --launch: '1 mars' (skriv ÅÅÅÅ-MM-DD)\n"
    assert not (tmp_path / "unused.db").exists()  # refused before the database is opened
