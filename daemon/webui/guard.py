"""Who may use the settings window: the ASGI middleware in front of every page.

The window listens on 127.0.0.1, where every local user (and any web page the user's browser shows) can send it
requests, so each request must prove it comes from this user's browser, on purpose:

- **Host**: only `127.0.0.1:PORT` or `localhost:PORT`. A DNS-rebinding page (evil.example resolving to 127.0.0.1)
  sends its own name and is refused.
- **Path**: the app lives under a per-launch random prefix. Cookies are not isolated by port, so a session cookie
  with `Path=/` would also go to whatever another local user listens on at 127.0.0.1:OTHERPORT; with the prefix as
  its Path, the browser sends it only to URLs that already hold that secret.
- **Session**: a one-time ticket, minted through the control socket (which only this uid can open) and valid for two
  minutes, is exchanged at `/login` for an HttpOnly, SameSite=Strict cookie holding the per-launch session secret
  (256 bits). Every other request without that cookie is refused with 403.
- **CSRF**: a request that changes something (any method but GET/HEAD) must carry the per-launch CSRF token (form
  field or `X-CSRF-Token` header), and its `Origin`, when the browser sends one, must be this window's own origin.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

COOKIE = "ferry_session"
TICKET_TTL_S = 120.0
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_FORM = 64 * 1024  # a settings form is a few hundred bytes


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Secrets:
    """The per-launch secrets and the one-time login tickets (thread-safe: minted from the control thread)."""

    def __init__(self, prefix: str, session: str, csrf: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.prefix = prefix
        self.clock = clock
        self.session = session
        self.csrf = csrf
        self._tickets: dict[str, float] = {}
        self._lock = threading.Lock()

    def add_ticket(self, ticket: str) -> None:
        now = self.clock()
        with self._lock:
            self._tickets = {t: exp for t, exp in self._tickets.items() if exp > now}
            self._tickets[ticket] = now + TICKET_TTL_S

    def redeem(self, ticket: str) -> bool:
        """True once for a ticket minted less than TICKET_TTL_S ago; a used or stale ticket is refused."""
        now = self.clock()
        with self._lock:
            for t, exp in list(self._tickets.items()):
                if same(t, ticket):
                    del self._tickets[t]
                    return exp > now
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie") or ""
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # not no-referrer: Chromium then sends "Origin: null"
    (b"cache-control", b"no-store"),
]


class Guard:
    """Refuse what does not pass the rules in the module docstring; add the security headers to the rest."""

    def __init__(self, app: ASGIApp, secrets: Secrets, port: Callable[[], int]) -> None:
        self.app = app
        self.secrets = secrets
        self.port = port

    def origins(self) -> tuple[str, ...]:
        return (f"127.0.0.1:{self.port()}", f"localhost:{self.port()}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no websockets
        host = _header(scope, b"host")
        if host not in self.origins():
            await _refuse(send, 403, "Refused: this window answers only at 127.0.0.1 (unexpected Host header).")
            return
        path: str = scope.get("path", "")
        base = f"/{self.secrets.prefix}"
        if not (path == base or path.startswith(base + "/")):
            await _refuse(send, 403, "Refused: open the settings window with `ferry open`.")
            return
        if path == base + "/login":
            await self._login(scope, send, base)
            return
        session = _cookie(scope, COOKIE)
        if session is None or not same(session, self.secrets.session):
            await _refuse(send, 403, "Refused: no valid session. Open the settings window with `ferry open` "
                                     "(or the tray's Preferences…).")
            return
        if scope["method"] not in SAFE_METHODS:
            origin = _header(scope, b"origin")
            if origin is not None and origin not in tuple(f"http://{o}" for o in self.origins()):
                await _refuse(send, 403, "Refused: a request from another site.")
                return
            if _header(scope, b"sec-fetch-site") == "cross-site":
                await _refuse(send, 403, "Refused: a request from another site.")
                return
            body = await _read_body(receive)
            if body is None:
                await _refuse(send, 413, "Refused: request too large.")
                return
            token = _header(scope, b"x-csrf-token") or _form_field(body, "csrf")
            if token is None or not same(token, self.secrets.csrf):
                await _refuse(send, 403, "Refused: missing or wrong CSRF token (reload the page and try again).")
                return
            receive = _replay(body)
        try:
            await self.app(scope, receive, _with_headers(send))
        except Exception:  # Starlette has answered 500 already; the daemon's log (not uvicorn's stderr) says why
            log.exception("settings window: %s %s failed", scope["method"], path.removeprefix(base))

    async def _login(self, scope: Scope, send: Send, base: str) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [""])[0]
        if scope["method"] != "GET" or not ticket or not self.secrets.redeem(ticket):
            await _refuse(send, 403, "Refused: this link was already used or has expired. Run `ferry open` (or the "
                                     "tray's Preferences…) for a new one.")
            return
        cookie = f"{COOKIE}={self.secrets.session}; Path={base}; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", f"{base}/".encode()), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _form_field(body: bytes, name: str) -> str | None:
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name)
    except UnicodeDecodeError:
        return None
    return values[0] if values else None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in names)]
        await send(message)

    return wrapped
