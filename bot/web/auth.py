"""Signing in with a one-time link by mail, and signing out.

A person gives their address on ``/logga-in``. When it belongs to a contact (or an
administrator) a link ``/logga-in/SECRET`` is mailed through the outbox: valid for
``ASSESSBOT_SIGNIN_LINK_MINUTES``, usable once, only its digest stored. The page that
follows is the same whether or not the address is known, so it reveals nothing; requests
are limited per address and per client (:mod:`bot.web.ratelimit`).

Opening the link (GET) only shows a page with a button: mail scanners that follow links
(Outlook Safe Links and the like) therefore never use it up. The POST of that page uses
the link, atomically, and starts a session. An address that is a contact of several
organisations (or also an administrator) chooses which on that page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.tables import AccessToken, Administrator, AuditEntry, Contact, Organisation, now
from bot.i18n import format_datetime, gettext
from bot.keys import DB, LIMITS, SETTINGS
from bot.mail.compose import new_message
from bot.mail.outbox import enqueue
from bot.tokens import digest, new_secret
from bot.web.security import Refused, checked_form, render
from bot.web.sessions import USER, end_session, start_session

_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
DEMO_ADDRESS = "demo.samordnare@demo.example"


@dataclass(frozen=True, slots=True)
class Identity:
    """One way an address can sign in: as a contact of an organisation, or as administrator."""

    key: str  # "c:<contact id>" | "a:<administrator id>"
    label: str
    language: str


async def identities(session: AsyncSession, email: str) -> list[Identity]:
    found: list[Identity] = []
    rows = (
        await session.exec(
            select(Contact, Organisation)
            .join(Organisation, col(Organisation.id) == col(Contact.organisation_id))
            .where(col(Contact.email) == email, col(Contact.active).is_(True))
            .order_by(col(Organisation.name))
        )
    ).all()
    for contact, org in rows:
        found.append(Identity(f"c:{contact.id}", org.name, contact.language))
    admin = (await session.exec(select(Administrator).where(Administrator.email == email))).first()
    if admin is not None:
        found.append(Identity(f"a:{admin.id}", "", admin.language))
    return found


async def signin_form(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is not None:
        raise web.HTTPSeeOther("/")
    return render(
        request,
        "signin.html.j2",
        {
            "address": "",
            "error": None,
            "signed_out": "utloggad" in request.query,
            "demo_address": DEMO_ADDRESS,
        },
    )


async def signin_request(request: web.Request) -> web.StreamResponse:
    data = await checked_form(request)
    address = str(data.get("epost", "")).strip().lower()
    if not _ADDRESS.match(address) or len(address) > 254:
        return render(
            request,
            "signin.html.j2",
            {
                "address": address,
                "error": "Skriv en hel e-postadress, till exempel namn@kommun.se.",
                "signed_out": False,
                "demo_address": DEMO_ADDRESS,
            },
            status=400,
        )
    if not await request.app[LIMITS].allow(address, request.remote or "?"):
        raise Refused(
            429,
            "Du har bett om för många inloggningslänkar på kort tid. Vänta en kvart och försök igen, "
            "eller använd den senaste länken du fått.",
        )
    await _send_link(request, address)
    return render(request, "signin_sent.html.j2", {"address": address})


async def _send_link(request: web.Request, address: str) -> None:
    settings = request.app[SETTINGS]
    at = now()
    async with request.app[DB].transaction() as session:
        found = await identities(session, address)
        if not found:
            return
        first = found[0]
        kind, _, number = first.key.partition(":")
        secret = new_secret()
        expires = at + timedelta(minutes=settings.signin_link_minutes)
        session.add(
            AccessToken(
                token_hash=digest(secret),
                purpose="signin",
                contact_id=int(number) if kind == "c" else None,
                administrator_id=int(number) if kind == "a" else None,
                created_at=at,
                expires_at=expires,
            )
        )
        lang = first.language
        link = f"{settings.base_url.rstrip('/')}/logga-in/{secret}"
        msg = new_message(
            settings,
            to=address,
            subject=gettext(lang, "Din inloggningslänk till %(service)s", service=_service(lang)),
            lang=lang,
        )
        msg.set_content(
            gettext(
                lang,
                "Hej!\n\nNågon, förhoppningsvis du, bad om en inloggningslänk till %(service)s för den här "
                "adressen. Öppna länken och välj Logga in:\n\n%(link)s\n\nLänken gäller till %(until)s och "
                "kan användas en gång. Bad du inte om den kan du bortse från det här mejlet; ingen kan logga "
                "in utan länken.\n\n%(authority)s\n",
                service=_service(lang),
                link=link,
                until=format_datetime(expires, lang, tz=settings.timezone, fmt="short"),
                authority=settings.authority_name,
            )
        )
        await enqueue(session, msg, key=f"signin:{digest(secret)}", kind="signin")
    _wake_sender()


def _service(lang: str) -> str:
    return "Infosäkkollen"


def _wake_sender() -> None:
    try:
        from bot.mail.sender import wake
    except ImportError:  # pragma: no cover - the sender is optional
        return
    wake()


async def _signin_token(session: AsyncSession, secret: str) -> AccessToken:
    token = (
        await session.exec(
            select(AccessToken).where(
                AccessToken.token_hash == digest(secret), AccessToken.purpose == "signin"
            )
        )
    ).first()
    if token is None:
        raise Refused(
            404,
            "Inloggningslänken är inte giltig. Kontrollera att hela länken kom med, eller be om en ny.",
            again=True,
        )
    if token.used_at is not None:
        raise Refused(
            403,
            "Inloggningslänken har redan använts. En länk kan bara användas en gång: be om en ny.",
            again=True,
        )
    if token.expires_at is None or token.expires_at <= now():
        raise Refused(403, "Inloggningslänken har gått ut. Be om en ny länk.", again=True)
    return token


async def _token_email(session: AsyncSession, token: AccessToken) -> str:
    if token.contact_id is not None:
        contact = await session.get(Contact, token.contact_id)
        if contact is not None:
            return contact.email
    if token.administrator_id is not None:
        admin = await session.get(Administrator, token.administrator_id)
        if admin is not None:
            return admin.email
    raise Refused(403, "Inloggningslänken hör inte längre till någon kontakt. Be om en ny länk.", again=True)


async def confirm_page(request: web.Request) -> web.StreamResponse:
    secret = request.match_info["secret"]
    async with request.app[DB].transaction(readonly=True) as session:
        token = await _signin_token(session, secret)
        email = await _token_email(session, token)
        choices = await identities(session, email)
    return render(
        request,
        "signin_confirm.html.j2",
        {"secret": secret, "email": email, "choices": choices, "error": None},
    )


async def confirm(request: web.Request) -> web.StreamResponse:
    secret = request.match_info["secret"]
    data = await checked_form(request)
    chosen = str(data.get("identitet", ""))
    at = now()
    async with request.app[DB].transaction() as session:
        token = await _signin_token(session, secret)
        email = await _token_email(session, token)
        choices = await identities(session, email)
        keys = [c.key for c in choices]
        if not chosen and len(keys) == 1:
            chosen = keys[0]
        if chosen not in keys:
            if not chosen:
                return render(
                    request,
                    "signin_confirm.html.j2",
                    {
                        "secret": secret,
                        "email": email,
                        "choices": choices,
                        "error": "Välj vilken organisation du vill logga in för.",
                    },
                    status=400,
                )
            raise Refused(403, "Den här länken ger inte inloggning för det du valde.")
        used = await session.exec(
            sa.update(AccessToken)
            .where(col(AccessToken.id) == token.id, col(AccessToken.used_at).is_(None))
            .values(used_at=at)
        )
        if used.rowcount != 1:  # used by a simultaneous request
            raise Refused(
                403, "Inloggningslänken har redan använts. En länk kan bara användas en gång: be om en ny."
            )
        kind, _, number = chosen.partition(":")
        organisation_id: int | None = None
        if kind == "c":
            contact = await session.get(Contact, int(number))
            organisation_id = contact.organisation_id if contact else None
        session.add(
            AuditEntry(
                at=at,
                actor=email,
                action="web.signin",
                organisation_id=organisation_id,
                details={"as": "administrator" if kind == "a" else "contact"},
            )
        )
    response = web.HTTPSeeOther("/")
    await end_session(request, response)  # a session of someone else in this browser ends here
    await start_session(
        request,
        response,
        contact_id=int(number) if kind == "c" else None,
        administrator_id=int(number) if kind == "a" else None,
    )
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    await checked_form(request)
    response = web.HTTPSeeOther("/logga-in?utloggad=1")
    await end_session(request, response)
    raise response


def require_user(request: web.Request) -> Any:
    user = request.get(USER)
    if user is None:
        raise web.HTTPSeeOther("/logga-in")
    return user


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/logga-in", signin_form)
    app.router.add_post("/logga-in", signin_request)
    app.router.add_get("/logga-in/{secret}", confirm_page)
    app.router.add_post("/logga-in/{secret}", confirm)
    app.router.add_post("/logga-ut", signout)
