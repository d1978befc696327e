"""Web sessions: who is signed in, from a random secret in an HttpOnly cookie.

A session is an ``AccessToken`` with purpose ``session``: only the SHA-256 digest of the
cookie's secret is stored, with the contact or administrator it signs in. It ends after
``ASSESSBOT_SESSION_IDLE_HOURS`` without use (each use moves the end on, at most every few
minutes, so reading a page rarely writes) and ``ASSESSBOT_SESSION_MAX_DAYS`` after sign-in
at the latest. Signing out deletes the row. The cookie is ``HttpOnly``, ``SameSite=Lax``,
and ``Secure`` (with the ``__Host-`` prefix) when the service runs behind https.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import col, select

from bot.db.tables import AccessToken, Administrator, Contact, now
from bot.keys import DB, SETTINGS
from bot.tokens import digest, new_secret
from conversations.state import Actor

REFRESH_EVERY = timedelta(minutes=5)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class User:
    """The person behind a session: a contact of one organisation, or an administrator."""

    email: str
    name: str
    language: str
    session_hash: str
    secret: str
    contact: Contact | None = None
    administrator: Administrator | None = None

    @property
    def is_admin(self) -> bool:
        return self.administrator is not None

    @property
    def organisation_id(self) -> int | None:
        return self.contact.organisation_id if self.contact is not None else None

    @property
    def may_answer(self) -> bool:
        return self.contact is not None and self.contact.may_answer and not self.is_admin

    @property
    def coordinator(self) -> bool:
        return self.contact is not None and self.contact.coordinator and self.contact.active

    def actor(self) -> Actor:
        c = self.contact
        return Actor(
            self.email,
            coordinator=bool(c and c.coordinator and c.active),
            respondent=bool(c and c.respondent and c.active),
            manager=bool(c and c.manager),
            administrator=self.is_admin,
            language=self.language,
        )


USER: web.RequestKey[User | None] = web.RequestKey("user", User)
_SECRET: web.RequestKey[str] = web.RequestKey("session_secret", str)


def cookie_name(request: web.Request) -> str:
    return "__Host-assessbot" if request.app[SETTINGS].base_url.startswith("https://") else "assessbot"


def session_secret(request: web.Request) -> str | None:
    """The secret of the signed-in session, if any."""
    return request.get(_SECRET)


async def load_user(request: web.Request, secret: str) -> User | None:
    """The user of a session secret that is still valid, moving its idle end on."""
    settings = request.app[SETTINGS]
    db = request.app[DB]
    at = now()
    user: User | None = None
    async with db.transaction(readonly=True) as session:
        token = (
            await session.exec(
                select(AccessToken).where(
                    AccessToken.token_hash == digest(secret),
                    AccessToken.purpose == "session",
                )
            )
        ).first()
        if token is None or token.expires_at is None or token.expires_at <= at:
            return None
        assert token.created_at is not None
        hard_end = token.created_at + timedelta(days=settings.session_max_days)
        if hard_end <= at:
            return None
        if token.contact_id is not None:
            contact = await session.get(Contact, token.contact_id)
            if contact is not None and contact.active:
                user = User(
                    contact.email, contact.name, contact.language, token.token_hash, secret, contact=contact
                )
        elif token.administrator_id is not None:
            admin = await session.get(Administrator, token.administrator_id)
            if admin is not None:
                user = User(
                    admin.email, admin.name, admin.language, token.token_hash, secret, administrator=admin
                )
    idle_end = min(at + timedelta(hours=settings.session_idle_hours), hard_end)
    if user is not None and idle_end - token.expires_at > REFRESH_EVERY:
        async with db.transaction() as session:
            await session.exec(
                sa.update(AccessToken).where(col(AccessToken.id) == token.id).values(expires_at=idle_end)
            )
    return user


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets ``request[USER]`` from the session cookie (None when not signed in)."""
    request[USER] = None
    if not request.path.startswith("/static/") and request.path != "/health":
        secret = request.cookies.get(cookie_name(request))
        if secret and len(secret) <= 100:
            user = await load_user(request, secret)
            if user is not None:
                request[USER] = user
                request[_SECRET] = secret
    return await handler(request)


async def start_session(
    request: web.Request,
    response: web.StreamResponse,
    *,
    contact_id: int | None = None,
    administrator_id: int | None = None,
) -> None:
    """Store a new session and set its cookie on ``response``."""
    settings = request.app[SETTINGS]
    secret = new_secret()
    at = now()
    async with request.app[DB].transaction() as session:
        session.add(
            AccessToken(
                token_hash=digest(secret),
                purpose="session",
                contact_id=contact_id,
                administrator_id=administrator_id,
                created_at=at,
                expires_at=at + timedelta(hours=settings.session_idle_hours),
            )
        )
    response.set_cookie(
        cookie_name(request),
        secret,
        httponly=True,
        samesite="Lax",
        secure=settings.base_url.startswith("https://"),
        path="/",
    )


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Delete the session (sign-out) and its cookie."""
    secret = session_secret(request)
    if secret is not None:
        async with request.app[DB].transaction() as session:
            await session.exec(
                sa.delete(AccessToken).where(
                    col(AccessToken.token_hash) == digest(secret), col(AccessToken.purpose) == "session"
                )
            )
    response.del_cookie(cookie_name(request), path="/")


def expired(at: datetime | None) -> bool:
    return at is None or at <= now()
