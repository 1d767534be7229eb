"""Who is signed in to the web app: server-side sessions, their cookie, and the CSRF rules.

- **Session**: signing in makes a random 256-bit token; the browser keeps it in an HttpOnly, SameSite=Strict cookie
  (Secure when the request came over HTTPS, Path=/web) and the database keeps only its SHA-256 (table
  `web_sessions`), so every server process on one PostgreSQL database knows the session and a copy of the database
  signs nobody in. A session lasts SESSION_IDLE_S after its last use (slid at most once a minute); signing out,
  changing the password or the operator removing the user ends it.
- **CSRF**: every POST must carry the session's CSRF token (form field `csrf` or header `X-CSRF-Token`), an HMAC of
  the session token, so only a page this server rendered for this browser knows it; and its `Origin` (or
  `Sec-Fetch-Site`, when a browser sends no Origin) must be this server's own. The sign-in form, before any
  session exists, carries a random token that must equal a short-lived cookie (double submit) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ferrysync.server.context import AppContext
from ferrysync.server.passwords import token_hash
from ferrysync.server.store.base import WebSession
from ferrysync.server.store.rows import now_ms

COOKIE = "ferry_web"
LOGIN_COOKIE = "ferry_web_login"
COOKIE_PATH = "/web"
SESSION_IDLE_S = 7 * 86_400
LOGIN_FORM_TTL_S = 3600
SAFE_METHODS = frozenset({"GET", "HEAD"})


class SignInNeeded(Exception):
    """No valid session: a page redirects to the sign-in form, anything else answers 401."""


class Refused(Exception):
    """A request that fails the CSRF or origin rules (403), or a non-admin on an admin page."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Signed:
    """The signed-in session of a request, with the CSRF token its pages carry."""

    session: WebSession
    token: str

    @property
    def user_id(self) -> int:
        return self.session.user.id

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"ferry-web-csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(name: str, value: str, max_age: int, request: Request) -> str:
    flags = f"; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return f"{name}={value}{flags}{'; Secure' if secure(request) else ''}"


def start(ctx: AppContext, user_id: int, request: Request, response: Response) -> None:
    """Sign `user_id` in: a new session row and its cookie on `response`."""
    token = secrets.token_urlsafe(32)
    ctx.meta.add_session(user_id, token_hash(token), now_ms() + SESSION_IDLE_S * 1000)
    response.headers.append("set-cookie", _cookie(COOKIE, token, SESSION_IDLE_S, request))


def end(ctx: AppContext, request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        ctx.meta.end_session(token_hash(token))
    response.headers.append("set-cookie", _cookie(COOKIE, "", 0, request))


def current(ctx: AppContext, request: Request) -> Signed:
    """The request's session (its expiry slid forward), or SignInNeeded."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded()
    found = ctx.meta.session(token_hash(token), now_ms())
    if found is None:
        raise SignInNeeded()
    ctx.meta.touch_session(found, now_ms() + SESSION_IDLE_S * 1000)
    return Signed(found, token)


def check_origin(request: Request) -> None:
    """A state-changing request must come from one of this server's own pages."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None:
        if origin != own:
            raise Refused("Refused: a request from another site.")
        return
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Refused("Refused: a request from another site.")


def check_csrf(signed: Signed, request: Request, form: dict[str, str]) -> None:
    check_origin(request)
    sent = request.headers.get("x-csrf-token") or form.get("csrf") or ""
    if not sent or not same(sent, signed.csrf):
        raise Refused("Refused: missing or wrong CSRF token (reload the page and try again).")


def login_form_token(request: Request) -> str:
    """The sign-in form's double-submit token (the browser's, or a new one): `set_login_cookie` sets it too."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def set_login_cookie(request: Request, response: Response, value: str) -> None:
    response.headers.append("set-cookie", _cookie(LOGIN_COOKIE, value, LOGIN_FORM_TTL_S, request))


def check_login_form(request: Request, form: dict[str, str]) -> None:
    check_origin(request)
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    sent = form.get("csrf") or ""
    if not cookie or not sent or not same(cookie, sent):
        raise Refused("Refused: the sign-in form has expired; reload the page and try again.")


def session_cookie_valid(ctx: AppContext, cookie_header: str) -> bool:
    """Whether a raw Cookie header holds a live session (for the body limit, before any route runs)."""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return ctx.meta.session(token_hash(value), now_ms()) is not None
    return False
