"""What every page gets: security headers, CSRF tokens, the Origin check, the language.

**Headers.** Every response carries a strict Content-Security-Policy (scripts, styles and
connections only from this origin; no inline script or style; no framing), and
``X-Content-Type-Options``, ``Referrer-Policy`` and ``Permissions-Policy``.

**CSRF.** A form carries a synchronizer token: an HMAC, under the service's secret key, of
the session secret (signed in) or of a random pre-session cookie (the sign-in forms). A
POST whose token does not match, or whose ``Origin`` (or, without one, ``Referer``) names
another site, is refused with 403 and a page that says what to do. The WebSocket
handshake is checked the same way (token in the query string, Origin header).

**Language.** Swedish by default; ``/sprak/en`` stores the choice in a cookie; a signed-in
person without a choice gets the language of their contact record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from bot.i18n import LANGUAGES, gettext, language
from bot.keys import DEMO, SECRET, SETTINGS
from bot.tokens import new_secret
from bot.web.sessions import USER, session_secret

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PRE_SESSION_COOKIE = "assessbot_pre"
LANG_COOKIE = "assessbot_lang"
PRE_SECRET: web.RequestKey[str] = web.RequestKey("pre_secret", str)
LANG: web.RequestKey[str] = web.RequestKey("lang", str)
BASE: web.RequestKey[dict[str, Any]] = web.RequestKey("base_context", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    """A request that is refused with a page: ``message`` is Swedish, translated when shown."""

    def __init__(self, status: int, message: str, **values: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.values = values


def secure(request: web.Request) -> bool:
    return request.app[SETTINGS].base_url.startswith("https://")


# --- language ---------------------------------------------------------------------------


def request_lang(request: web.Request) -> str:
    try:
        return request[LANG]  # (chosen once per request; a WebSocket's request lives as long as it)
    except KeyError:
        pass
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        lang = language(chosen)
    elif (user := request.get(USER)) is not None:
        lang = language(user.language)
    else:
        lang = language(request.app[SETTINGS].language)
    request[LANG] = lang
    return lang


def tr(request: web.Request, message: str, **values: Any) -> str:
    return gettext(request_lang(request), message, **values)


def safe_next(target: str | None) -> str:
    """A local path to go back to; anything else gives ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def choose_language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise Refused(404, "Sidan finns inte.")
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=secure(request),
        path="/",
    )
    raise response


# --- CSRF ---------------------------------------------------------------------------------


def mac(key: bytes, purpose: str, value: str) -> str:
    """The token for ``value``: an HMAC-SHA256 under the service's key, 192 bits, URL-safe."""
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def _mac(request: web.Request, purpose: str, value: str) -> str:
    return mac(request.app[SECRET], purpose, value)


def pre_session_secret(request: web.Request) -> str:
    """The random pre-session value of this browser (set as a cookie on the way out)."""
    if PRE_SECRET not in request:
        value = request.cookies.get(PRE_SESSION_COOKIE, "")
        request[PRE_SECRET] = value if 20 <= len(value) <= 100 else new_secret()
    return request[PRE_SECRET]


def csrf_token(request: web.Request) -> str:
    """The token this request's forms carry."""
    secret = session_secret(request)
    if secret is not None:
        return _mac(request, "csrf", secret)
    return _mac(request, "csrf-pre", pre_session_secret(request))


def same_origin(request: web.Request) -> bool:
    """False when Origin (or Referer) names a site other than this one."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return True  # not a browser; the token still has to match
    if source == "null":
        return False
    parts = urlsplit(source)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    base = urlsplit(request.app[SETTINGS].base_url)
    allowed = {f"{base.scheme}://{base.netloc}".lower(), f"{request.scheme}://{request.host}".lower()}
    return origin in allowed


def check_csrf(request: web.Request, token: str | None) -> None:
    """Refuse the request unless it comes from this site with this session's token."""
    if not same_origin(request):
        raise Refused(
            403,
            "Formuläret kom från en annan webbplats och togs inte emot. Öppna sidan här och försök igen.",
        )
    expected = csrf_token(request)
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Refused(
            403,
            "Formuläret kunde inte tas emot: säkerhetskontrollen stämde inte (sidan kan vara för gammal, "
            "eller så har du loggat ut). Ladda om sidan och försök igen.",
        )


async def checked_form(request: web.Request) -> Mapping[str, Any]:
    """The posted form, after the Origin and CSRF checks."""
    data = await request.post()
    token = data.get("csrf")
    check_csrf(request, token if isinstance(token, str) else None)
    return data


# --- rendering ------------------------------------------------------------------------------


def base_context(request: web.Request) -> dict[str, Any]:
    """What every template gets; worked out once per request (a WebSocket's lasts its lifetime)."""
    if BASE in request:
        return request[BASE]
    context = {
        "lang": request_lang(request),
        "user": request.get(USER),
        "csrf": csrf_token(request),
        "path": request.path_qs,
        "demo": request.app.get(DEMO, False),
        "authority": request.app[SETTINGS].authority_name,
        "link_minutes": request.app[SETTINGS].signin_link_minutes,
    }
    request[BASE] = context
    return context


def render(request: web.Request, name: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    env = request.app[aiohttp_jinja2.APP_KEY]
    html = env.get_template(name).render({**base_context(request), **context})
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def render_fragment(request: web.Request, name: str, context: Mapping[str, Any]) -> str:
    env = request.app[aiohttp_jinja2.APP_KEY]
    return env.get_template(name).render({**base_context(request), **context})


# --- middlewares ----------------------------------------------------------------------------


_STATUS_TITLES = {
    400: "Felaktig begäran",
    403: "Åtkomst nekad",
    404: "Sidan finns inte",
    405: "Det går inte att göra så här",
    429: "För många försök",
    500: "Något gick fel",
}


def _error_page(request: web.Request, status: int, message: str, values: Mapping[str, Any]) -> web.Response:
    title = _STATUS_TITLES.get(status, "Något gick fel")
    return render(
        request,
        "error.html.j2",
        {"status": status, "title": title, "message": message, "values": values},
        status=status,
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal and error as a clear page in the user's language."""
    try:
        return await handler(request)
    except Refused as exc:
        return _error_page(request, exc.status, exc.message, exc.values)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: "Sidan finns inte. Kontrollera adressen eller gå till startsidan.",
            405: "Sidan kan inte användas på det sättet.",
        }.get(exc.status, "Begäran kunde inte behandlas.")
        return _error_page(request, exc.status, message, {})
    except Exception:
        log.exception("error on %s %s", request.method, request.path)
        return _error_page(request, 500, "Ett oväntat fel inträffade. Försök igen om en stund.", {})


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects
        _add_headers(request, exc)
        raise
    _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:  # a WebSocket, or a stream already sent
        return
    response.headers.setdefault("Content-Security-Policy", CSP)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if secure(request):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if PRE_SECRET in request and request.cookies.get(PRE_SESSION_COOKIE) != request[PRE_SECRET]:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            request[PRE_SECRET],
            httponly=True,
            samesite="Lax",
            secure=secure(request),
            path="/",
        )
