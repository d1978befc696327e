"""``assessbot org add`` and ``org import``: checks, duplicates, file formats, nothing half-stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import col, select

from bot.db.database import Database
from bot.db.tables import AuditEntry, Contact, Organisation
from bot.organisations import (
    Invalid,
    import_columns,
    luhn_ok,
    normalise_email,
    normalise_orgnr,
    organisation_entry,
)
from tests.conftest_db import Cli, run_cli

HEADER_SV = "namn;typ;organisationsnummer;län;samordnare;ledning;respondenter;språk"


def orgnr(n: int, prefix: str = "212000") -> str:
    """A valid organisation number NNNNNN-NNNN (Luhn check digit added)."""
    body = f"{prefix}{n:03d}"
    check = next(d for d in range(10) if luhn_ok(body + str(d)))
    return f"{body[:6]}-{body[6:]}{check}"


async def organisations(db: Database) -> list[Organisation]:
    async with db.transaction(readonly=True) as session:
        return list((await session.exec(select(Organisation).order_by(col(Organisation.id)))).all())


async def count(db: Database, table: type) -> int:
    async with db.transaction(readonly=True) as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


# Pure checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("212000-0142", "2120000142"),
        ("2120000142", "2120000142"),
        ("16212000-0142", "2120000142"),
        (" 202100-5489 ", "2021005489"),
    ],
)
def test_orgnr_accepted(text: str, digits: str) -> None:
    assert normalise_orgnr(text) == digits


@pytest.mark.parametrize("text", ["212000-0143", "21200-00142", "212000+0142", "abc", "", "2120000142x"])
def test_orgnr_refused(text: str) -> None:
    with pytest.raises(Invalid, match="ogiltigt organisationsnummer"):
        normalise_orgnr(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anna.Berg@Kommun.SE", ("", "anna.berg@kommun.se")),
        ("Anna Berg <anna@kommun.se>", ("Anna Berg", "anna@kommun.se")),
        ('"Berg, Anna" <anna@kommun.se>', ("Berg, Anna", "anna@kommun.se")),
        ("a+b@sub.region.se", ("", "a+b@sub.region.se")),
    ],
)
def test_email_accepted(text: str, expected: tuple[str, str]) -> None:
    assert normalise_email(text) == expected


@pytest.mark.parametrize(
    "text", ["anna", "anna@kommun", "a@@k.se", "a b@k.se", "a@k.se extra", "a..b@k.se", "a@-k.se", "a@k.s"]
)
def test_email_refused(text: str) -> None:
    with pytest.raises(Invalid, match="ogiltig e-postadress"):
        normalise_email(text)


def test_entry_merges_roles_and_derives_domains() -> None:
    e = organisation_entry(
        name="  Alby   kommun ",
        type="Kommun",
        coordinators=["Anna <ANNA@alby.se>"],
        managers=["chef@alby.se; anna@alby.se", "privat@gmail.com"],
        respondents=["x@it.alby.se"],
    )
    assert e.name == "Alby kommun" and e.type == "kommun" and e.language == "sv"
    roles = {c.email: (c.coordinator, c.manager, c.respondent) for c in e.contacts}
    assert roles == {
        "anna@alby.se": (True, True, False),
        "chef@alby.se": (False, True, False),
        "privat@gmail.com": (False, True, False),
        "x@it.alby.se": (False, False, True),
    }
    assert e.mail_domains == ("alby.se", "it.alby.se")
    assert organisation_entry(
        name="A", type="region", coordinators=["a@a.se"], domains=["@X.se"]
    ).mail_domains == ("x.se",)


def test_entry_lists_every_problem() -> None:
    with pytest.raises(Invalid) as info:
        organisation_entry(
            name="", type="stad", orgnr="1", coordinators=[""], managers=["nope"], language="de"
        )
    assert info.value.problems == (
        "namn saknas",
        "ogiltig typ 'stad' (kommun, region eller myndighet)",
        "ogiltigt organisationsnummer 1",
        "ogiltigt språk 'de' (sv eller en)",
        "ogiltig e-postadress 'nope'",
        "samordnare eller ledning saknas",
    )


def test_import_columns_need_name_and_type() -> None:
    columns, unknown = import_columns(["NAMN", "Typ", "Samordnare", "Telefon"])
    assert columns == {"name": 0, "type": 1, "coordinator": 2} and unknown == ["Telefon"]
    with pytest.raises(Invalid, match="kolumn saknas: typ"):
        import_columns(["name", "samordnare"])


def test_an_organisation_with_only_management_is_accepted() -> None:
    """The launch letter asks its management to appoint the coordinator."""
    entry = organisation_entry(
        name="Norrby kommun", type="kommun", coordinators=[""], managers=["chef@norrby.se"]
    )
    assert [c.email for c in entry.contacts if c.manager] == ["chef@norrby.se"]


# org add ---------------------------------------------------------------------------------


async def test_org_add_stores_organisation_contacts_and_audit(db: Database, cli: Cli) -> None:
    result = cli(
        "org", "add", "--name", "Alby kommun", "--type", "kommun", "--orgnr", "212000-0142",
        "--county", "Stockholms län", "--size", "medel",
        "--coordinator", "Anna Berg <Anna@Alby.se>", "--manager", "chef@alby.se",
        "--respondent", "it@alby.se", "--lang", "en",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [org] = await organisations(db)
    assert result.stdout.strip() == str(org.id)
    assert (org.name, org.type, org.orgnr, org.county, org.size_class, org.mail_domains) == (
        "Alby kommun", "kommun", "2120000142", "Stockholms län", "medel", "alby.se",
    )  # fmt: skip
    async with db.transaction(readonly=True) as session:
        contacts = (await session.exec(select(Contact).order_by(col(Contact.email)))).all()
        audit = (await session.exec(select(AuditEntry))).all()
    assert [(c.email, c.name, c.roles, c.language) for c in contacts] == [
        ("anna@alby.se", "Anna Berg", ["coordinator"], "en"),
        ("chef@alby.se", "", ["manager"], "en"),
        ("it@alby.se", "", ["respondent"], "en"),
    ]
    assert [(a.actor, a.action, a.organisation_id) for a in audit] == [("cli", "org.add", org.id)]


async def test_org_add_refuses_bad_input_and_stores_nothing(db: Database, cli: Cli) -> None:
    result = cli("org", "add", "--name", "Alby kommun", "--type", "stad", "--orgnr", "212000-0143",
                 "--coordinator", "anna@alby.se", "--manager", "chef.alby.se")  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "assessbot: ogiltig typ 'stad' (kommun, region eller myndighet)",
        "assessbot: ogiltigt organisationsnummer 212000-0143",
        "assessbot: ogiltig e-postadress 'chef.alby.se'",
    ]
    assert await count(db, Organisation) == 0 and await count(db, Contact) == 0


async def test_org_add_refuses_a_duplicate(db: Database, cli: Cli) -> None:
    first = cli("org", "add", "--name", "Alby kommun", "--type", "kommun", "--orgnr", "2120000142",
                "--coordinator", "anna@alby.se")  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = cli("org", "add", "--name", "Alby", "--type", "kommun", "--orgnr", "212000-0142",
                "--coordinator", "bo@alby.se")  # fmt: skip
    assert again.returncode == 1
    assert "organisationsnummer 212000-0142 finns redan (Alby kommun" in again.stderr
    no_number = cli("org", "add", "--name", "Ett verk", "--type", "myndighet", "--coordinator", "a@verket.se")
    assert no_number.returncode == 0
    same_name = cli("org", "add", "--name", "ETT VERK", "--type", "myndighet", "--coordinator", "b@verket.se")
    assert same_name.returncode == 1 and "finns redan" in same_name.stderr
    assert await count(db, Organisation) == 2 and await count(db, Contact) == 2


# org import ------------------------------------------------------------------------------


def _rows() -> list[list[str]]:
    return [
        [
            "Håbo kommun",
            "kommun",
            orgnr(1),
            "Uppsala län",
            "anna@habo.se",
            "chef@habo.se;kansli@habo.se",
            "",
            "sv",
        ],
        [
            "Älvkarleby kommun",
            "Kommun",
            orgnr(2),
            "Uppsala län",
            "Åsa Öberg <asa@alvkarleby.se>",
            "",
            "it@alvkarleby.se",
            "",
        ],
        [
            "Region Östergötland",
            "region",
            orgnr(3, "232100"),
            "Östergötlands län",
            "x@regionostergotland.se",
            "",
            "",
            "en",
        ],
    ]


async def test_org_import_csv_windows_1252(db: Database, cli: Cli, tmp_path: Path) -> None:
    """Excel in Sweden saves CSV as Windows-1252 with ';' (other encodings: tests/test_sheets.py)."""
    lines = [HEADER_SV] + [";".join(f'"{c}"' if ";" in c else c for c in r) for r in _rows()]
    path = tmp_path / "orgs.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    result = cli("org", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "Sparade 3 organisationer." in result.stdout
    orgs = await organisations(db)
    assert [(o.name, o.type, o.county) for o in orgs] == [
        ("Håbo kommun", "kommun", "Uppsala län"),
        ("Älvkarleby kommun", "kommun", "Uppsala län"),
        ("Region Östergötland", "region", "Östergötlands län"),
    ]
    async with db.transaction(readonly=True) as session:
        contacts = (await session.exec(select(Contact).order_by(col(Contact.id)))).all()
        audit = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    assert [(c.email, c.roles, c.language) for c in contacts] == [
        ("anna@habo.se", ["coordinator"], "sv"),
        ("chef@habo.se", ["manager"], "sv"),
        ("kansli@habo.se", ["manager"], "sv"),
        ("asa@alvkarleby.se", ["coordinator"], "sv"),
        ("it@alvkarleby.se", ["respondent"], "sv"),
        ("x@regionostergotland.se", ["coordinator"], "en"),
    ]
    assert contacts[3].name == "Åsa Öberg"
    assert [(a.action, (a.details or {}).get("line")) for a in audit] == [
        ("org.import", 2),
        ("org.import", 3),
        ("org.import", 4),
    ]


async def test_org_import_xlsx(db: Database, cli: Cli, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["Namn", "Typ", "Organisationsnummer", "Län", "Samordnare", "Ledning", "Respondenter", "Språk"]
    )
    for row in _rows():
        sheet.append(row)
    sheet.append([None] * 8)  # an empty row is not a row
    sheet.append(["Skatteverket", "myndighet", 2021005448, None, "a@skatteverket.se", None, None, None])
    path = tmp_path / "orgs.xlsx"
    book.save(path)
    result = cli("org", "import", str(path))
    assert result.returncode == 0, result.stderr
    orgs = await organisations(db)
    assert [o.name for o in orgs] == [
        "Håbo kommun",
        "Älvkarleby kommun",
        "Region Östergötland",
        "Skatteverket",
    ]
    assert orgs[-1].orgnr == "2021005448"


async def test_org_import_reports_bad_rows_and_stores_the_good(
    db: Database, cli: Cli, tmp_path: Path
) -> None:
    rows = [
        "namn,typ,orgnr,samordnare,ledning",
        f"Alby kommun,kommun,{orgnr(1)},a@alby.se,",  # line 2: good
        "Bra myndighet,myndighet,212000-0143,b@myndighet.se,",  # line 3: bad check digit
        f"Cby kommun,kommun,{orgnr(3)},c@cby.se,inte-en-adress",  # line 4: bad manager
        f"Dby kommun,kommun,{orgnr(1)},d@dby.se,",  # line 5: same orgnr as line 2
        ",region,,e@e.se,",  # line 6: no name
        "",  # line 7: empty, ignored
        f"Eby kommun,kommun,{orgnr(5)},e@eby.se,",  # line 8: good
    ]
    path = tmp_path / "orgs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = cli("org", "import", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "rad 3: ogiltigt organisationsnummer 212000-0143",
        "rad 4: ogiltig e-postadress 'inte-en-adress'",
        f"rad 5: organisationsnummer {orgnr(1)} finns redan (rad 2)",
        "rad 6: namn saknas",
    ]
    assert "Sparade 2 organisationer." in result.stdout
    assert "Vägrade 4 rader med fel: rad 3, 4, 5, 6." in result.stdout
    assert [o.name for o in await organisations(db)] == ["Alby kommun", "Eby kommun"]
    assert await count(db, Contact) == 2

    # The same file again: the stored rows exist already and are skipped, not refused.
    good = tmp_path / "good.csv"
    good.write_text("\n".join([rows[0], rows[1], rows[7]]) + "\n", encoding="utf-8")
    again = cli("org", "import", str(good))
    assert again.returncode == 0, again.stderr
    assert f"rad 2: organisationsnummer {orgnr(1)} finns redan (Alby kommun, id" in again.stdout
    assert "Sparade 0 organisationer." in again.stdout
    assert "Hoppade över 2 rader som redan finns: rad 2, 3." in again.stdout
    assert await count(db, Organisation) == 2


def test_org_import_refuses_a_file_without_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text("name;samordnare\nA;a@a.se\n", encoding="utf-8")
    result = run_cli(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", tmp_path, "org", "import", str(path))
    assert result.returncode == 2
    assert result.stderr == "assessbot: orgs.csv: kolumn saknas: typ (type)\n"
    assert not (tmp_path / "unused.db").exists()  # the database was never opened


async def test_org_import_650_rows_quickly(db: Database, cli: Cli, tmp_path: Path) -> None:
    lines = [HEADER_SV]
    for i in range(650):
        lines.append(
            f"Kommun {i};kommun;{orgnr(i, '212001')};Län {i % 21};samordnare@k{i}.se;"
            f"chef@k{i}.se,ks@k{i}.se;it@k{i}.se;sv"
        )
    path = tmp_path / "all.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    result = cli("org", "import", str(path))
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "Sparade 650 organisationer." in result.stdout
    assert await count(db, Organisation) == 650 and await count(db, Contact) == 2600
    assert elapsed < 5, f"import took {elapsed:.1f} s"
