"""Registering organisations: checking what a person gave, then storing it with its contacts.

:func:`organisation_entry` turns the texts of one ``org add`` or one import row into an
:class:`OrganisationEntry`, or raises :class:`Invalid` listing every problem (in Swedish,
ready to show). Nothing touches the database until the whole entry is valid.
:class:`Known` tells whether an organisation is already registered: the same organisation
number, or, when no number is given, the same name and type. :func:`store` inserts entries,
their contacts and an audit entry each, in the caller's transaction; :func:`import_rows`
does a whole import (``org import`` and the administrators' upload alike): a row with a
problem or a duplicate within the file is refused, one already registered is skipped.

Organisation numbers are kept as their 10 digits (``212000-0142`` → ``2120000142``) and
must pass the Luhn check; e-mail addresses are kept in lower case. The mail domains of an
organisation (whose senders may be colleagues of its contacts) are those of its contacts,
leaving out public webmail providers, unless given explicitly.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import ORG_TYPES, AuditEntry, Contact, Organisation

LANGUAGES = ("sv", "en")

_TYPE_ALIASES = {
    "kommun": "kommun",
    "kommuner": "kommun",
    "municipality": "kommun",
    "region": "region",
    "regioner": "region",
    "myndighet": "myndighet",
    "myndigheter": "myndighet",
    "statlig myndighet": "myndighet",
    "agency": "myndighet",
    "authority": "myndighet",
}
_LANGUAGE_ALIASES = {
    "sv": "sv",
    "svenska": "sv",
    "swedish": "sv",
    "en": "en",
    "engelska": "en",
    "english": "en",
}

# Addresses at these providers say nothing about which organisation a sender belongs to.
PUBLIC_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.se",
        "outlook.com",
        "outlook.se",
        "live.com",
        "live.se",
        "msn.com",
        "yahoo.com",
        "yahoo.se",
        "icloud.com",
        "me.com",
        "mac.com",
        "telia.com",
        "bredband.net",
        "spray.se",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.net",
    ]
)

_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN = rf"(?:{_LABEL}\.)+[^\W\d_]{{2,63}}"
_EMAIL = re.compile(rf"{_LOCAL}@({_DOMAIN})")
_DOMAIN_RE = re.compile(_DOMAIN)
_ORGNR = re.compile(r"(?:16)?(\d{6})-?(\d{4})")
_NAMED = re.compile(r'"?([^"<>]*?)"?\s*<\s*([^<>\s]+)\s*>')
_SEPARATORS = re.compile(r"[;,\n]+")


class Invalid(ValueError):
    """An entry that cannot be stored; ``problems`` holds one Swedish line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def luhn_ok(digits: str) -> bool:
    """The Luhn (modulus 10) check that Swedish organisation and personal numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def normalise_orgnr(text: str) -> str:
    """``NNNNNN-NNNN`` (or 10 digits, or with the prefix 16) as 10 digits.

    Raises:
        Invalid: not 10 digits, or the check digit is wrong.
    """
    m = _ORGNR.fullmatch(text.strip().replace(" ", ""))
    digits = m.group(1) + m.group(2) if m else ""
    if not digits or not luhn_ok(digits):
        raise Invalid([f"ogiltigt organisationsnummer {text.strip()}"])
    return digits


def normalise_email(text: str) -> tuple[str, str]:
    """(name, address in lower case) from ``anna@x.se`` or ``Anna Berg <anna@x.se>``.

    Raises:
        Invalid: not an e-mail address.
    """
    text = text.strip()
    m = _NAMED.fullmatch(text)
    name, address = (m.group(1), m.group(2)) if m else ("", text)
    address = address.lower()
    if not _EMAIL.fullmatch(address) or len(address) > 254:
        raise Invalid([f"ogiltig e-postadress {text!r}"])
    return name.strip(), address


def split_list(text: str) -> list[str]:
    """The parts of a list separated by ``;``, ``,`` or new lines, without empty ones."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


@dataclass(frozen=True, slots=True)
class ContactEntry:
    email: str
    name: str = ""
    coordinator: bool = False
    manager: bool = False
    respondent: bool = False


@dataclass(frozen=True, slots=True)
class OrganisationEntry:
    """A checked organisation with its contacts, ready to store."""

    name: str
    type: str
    orgnr: str | None
    county: str | None
    size_class: str | None
    language: str
    contacts: tuple[ContactEntry, ...]
    mail_domains: tuple[str, ...] = field(default=())


def organisation_entry(
    *,
    name: str,
    type: str,
    coordinators: Iterable[str],
    managers: Iterable[str] = (),
    respondents: Iterable[str] = (),
    orgnr: str = "",
    county: str = "",
    size: str = "",
    language: str = "",
    domains: Iterable[str] = (),
    default_language: str = "sv",
) -> OrganisationEntry:
    """Check and normalise one organisation; address texts may each hold several addresses.

    Raises:
        Invalid: with every problem found.
    """
    problems: list[str] = []
    name = " ".join(name.split())
    if not name:
        problems.append("namn saknas")
    org_type = _TYPE_ALIASES.get(" ".join(type.lower().split()), "")
    if org_type not in ORG_TYPES:
        problems.append(
            f"ogiltig typ {type.strip()!r} (kommun, region eller myndighet)" if type.strip() else "typ saknas"
        )
    number: str | None = None
    if orgnr.strip():
        try:
            number = normalise_orgnr(orgnr)
        except Invalid as exc:
            problems.extend(exc.problems)
    lang = _LANGUAGE_ALIASES.get(language.strip().lower(), "") if language.strip() else default_language
    if lang not in LANGUAGES:
        problems.append(f"ogiltigt språk {language.strip()!r} (sv eller en)")

    coordinator_texts = list(coordinators)
    manager_texts = list(managers)
    people: dict[str, dict[str, Any]] = {}
    for role, texts in (
        ("coordinator", coordinator_texts),
        ("manager", manager_texts),
        ("respondent", respondents),
    ):
        for text in texts:
            for part in split_list(text):
                try:
                    person_name, address = normalise_email(part)
                except Invalid as exc:
                    problems.extend(exc.problems)
                    continue
                person = people.setdefault(address, {"email": address, "name": ""})
                person[role] = True
                person["name"] = person["name"] or person_name
    if not any(p.get("coordinator") or p.get("manager") for p in people.values()):
        # without a coordinator the launch letter asks the management to appoint one
        problems.append("samordnare eller ledning saknas")

    given = [d.strip().lower().lstrip("@") for text in domains for d in split_list(text) if d.strip()]
    for d in given:
        if not _DOMAIN_RE.fullmatch(d):
            problems.append(f"ogiltig domän {d!r}")
    if problems:
        raise Invalid(problems)
    contacts = tuple(ContactEntry(**p) for p in people.values())
    derived = (c.email.rpartition("@")[2] for c in contacts)
    mail_domains = given or [d for d in derived if d not in PUBLIC_MAIL_DOMAINS]
    return OrganisationEntry(
        name=name,
        type=org_type,
        orgnr=number,
        county=" ".join(county.split()) or None,
        size_class=size.strip() or None,
        language=lang,
        contacts=contacts,
        mail_domains=tuple(dict.fromkeys(mail_domains)),
    )


# Columns of an import file: field → accepted headers, compared case-insensitively
# (the English and the Swedish name first: messages use them).
IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "namn", "organisation", "organisationsnamn"),
    "type": ("type", "typ", "organisationstyp"),
    "orgnr": ("orgnr", "org.nr", "org nr", "organisationsnummer", "organisation number"),
    "county": ("county", "län", "lan"),
    "size": ("size", "storlek", "storleksklass", "size class"),
    "coordinator": ("coordinator", "samordnare", "coordinators"),
    "managers": ("managers", "manager", "ledning"),
    "respondents": ("respondents", "respondent", "respondenter"),
    "language": ("language", "lang", "språk", "sprak"),
    "domain": ("domain", "domains", "domän", "domäner"),
}
REQUIRED_COLUMNS = ("name", "type")
_HEADER_FIELD = {alias: name for name, aliases in IMPORT_COLUMNS.items() for alias in aliases}


def import_columns(header: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """(field → column index, headers not understood) of an import file's header row.

    Raises:
        Invalid: a required column is missing, or two columns mean the same field.
    """
    columns: dict[str, int] = {}
    unknown: list[str] = []
    problems: list[str] = []
    for i, text in enumerate(header):
        key = " ".join(text.lower().split())
        name = _HEADER_FIELD.get(key)
        if name is None:
            if key:
                unknown.append(text)
        elif name in columns:
            problems.append(f"kolumnen {text!r} förekommer två gånger")
        else:
            columns[name] = i
    problems.extend(
        f"kolumn saknas: {IMPORT_COLUMNS[name][1]} ({IMPORT_COLUMNS[name][0]})"
        for name in REQUIRED_COLUMNS
        if name not in columns
    )
    if problems:
        raise Invalid(problems)
    return columns, unknown


def entry_from_row(columns: dict[str, int], cells: Sequence[str], default_language: str) -> OrganisationEntry:
    """One import row as an entry (see :func:`organisation_entry`)."""

    def get(name: str) -> str:
        i = columns.get(name)
        return cells[i] if i is not None and i < len(cells) else ""

    return organisation_entry(
        name=get("name"),
        type=get("type"),
        orgnr=get("orgnr"),
        county=get("county"),
        size=get("size"),
        coordinators=[get("coordinator")],
        managers=[get("managers")],
        respondents=[get("respondents")],
        language=get("language"),
        domains=[get("domain")],
        default_language=default_language,
    )


@dataclass
class Known:
    """The organisations already registered (or accepted earlier in the same run), by key."""

    by_orgnr: dict[str, str] = field(default_factory=dict)
    by_name: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    async def load(cls, session: AsyncSession) -> Known:
        known = cls()
        rows = await session.exec(
            select(Organisation.id, Organisation.name, Organisation.type, Organisation.orgnr)
        )
        for org_id, name, org_type, orgnr in rows:
            known.note(name, org_type, orgnr, f"{name}, id {org_id}")
        return known

    def note(self, name: str, org_type: str, orgnr: str | None, where: str) -> None:
        if orgnr:
            self.by_orgnr.setdefault(orgnr, where)
        else:
            self.by_name.setdefault((name.casefold(), org_type), where)

    def duplicate(self, entry: OrganisationEntry) -> str | None:
        """Why ``entry`` is already registered ("… finns redan (…)"), or None."""
        if entry.orgnr:
            where = self.by_orgnr.get(entry.orgnr)
            return f"organisationsnummer {format_orgnr(entry.orgnr)} finns redan ({where})" if where else None
        where = self.by_name.get((entry.name.casefold(), entry.type))
        return f"{entry.name} ({entry.type}) finns redan ({where})" if where else None


def format_orgnr(digits: str) -> str:
    return f"{digits[:6]}-{digits[6:]}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment: the audit entry just lacks it
        return ""


async def store(
    session: AsyncSession,
    entries: Sequence[OrganisationEntry],
    *,
    action: str,
    actor: str = "cli",
    details: Sequence[dict[str, Any]] | None = None,
) -> list[Organisation]:
    """Insert ``entries`` with their contacts and one audit entry each; returns the new rows (with ids)."""
    orgs = [
        Organisation(
            name=e.name,
            type=e.type,
            orgnr=e.orgnr,
            county=e.county,
            size_class=e.size_class,
            mail_domains=" ".join(e.mail_domains),
        )
        for e in entries
    ]
    session.add_all(orgs)
    await session.flush()
    user = _os_user()
    rows: list[Any] = []
    for i, (org, entry) in enumerate(zip(orgs, entries, strict=True)):
        assert org.id is not None
        rows.extend(
            Contact(
                organisation_id=org.id,
                email=c.email,
                name=c.name,
                language=entry.language,
                coordinator=c.coordinator,
                manager=c.manager,
                respondent=c.respondent,
            )
            for c in entry.contacts
        )
        extra = details[i] if details is not None else {}
        rows.append(
            AuditEntry(
                actor=actor,
                action=action,
                organisation_id=org.id,
                details={"name": entry.name, "orgnr": entry.orgnr, "user": user, **extra},
            )
        )
    session.add_all(rows)
    await session.flush()
    return orgs


@dataclass(slots=True)
class ImportOutcome:
    """What an import did, by line: stored (with the entry), skipped as known, refused (reason)."""

    stored: list[tuple[int, OrganisationEntry]] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)


async def import_rows(
    session: AsyncSession,
    columns: dict[str, int],
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    default_language: str,
    actor: str = "cli",
    details: dict[str, Any],
) -> ImportOutcome:
    """Check and store the rows of an import sheet in the caller's transaction.

    A row with a problem, or one repeating an organisation given earlier in the same file, is
    refused and nothing of it is stored; an organisation already registered is skipped. Each
    stored one gets an audit entry with ``details`` and its line.
    """
    out = ImportOutcome()
    entries: list[tuple[int, OrganisationEntry]] = []
    for line, cells in rows:
        try:
            entries.append((line, entry_from_row(columns, cells, default_language)))
        except Invalid as exc:
            out.refused[line] = "; ".join(exc.problems)
    known = await Known.load(session)
    seen_in_file = Known()
    for line, entry in entries:
        if duplicate := known.duplicate(entry):
            out.skipped[line] = duplicate
        elif duplicate := seen_in_file.duplicate(entry):
            out.refused[line] = duplicate
        else:
            seen_in_file.note(entry.name, entry.type, entry.orgnr, f"rad {line}")
            out.stored.append((line, entry))
    await store(
        session,
        [entry for _, entry in out.stored],
        action="org.import",
        actor=actor,
        details=[{**details, "line": line} for line, _ in out.stored],
    )
    return out
