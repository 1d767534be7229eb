"""What every page of the web app shares: the templates, the session guard around each route, forms, redirects.

Templates are Jinja2 with autoescaping on for every template: the pages show file names, which a user's devices
chose and which may hold `<`, `&` or quotes; escaping by default keeps such a name from becoming markup.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from ferrysync.server.context import AppContext
from ferrysync.server.routes.common import iso
from ferrysync.server.web import sessions
from ferrysync.server.web.files import ActionFailed
from ferrysync.server.web.sessions import Refused, Signed, SignInNeeded

log = logging.getLogger("ferrysync.server.web")
HERE = Path(__file__).parent
BASE = "/web"
MAX_FORM = 64 * 1024  # the pages' forms are a few hundred bytes
NAV = [("files", "files/", "Files"), ("trash", "trash", "Deleted files"), ("shares", "shares", "Shares"),
       ("folders", "folders", "Shared folders"), ("devices", "devices", "Devices"), ("account", "account", "Account")]

Handler = Callable[[Request, Signed], Awaitable[Response]]


def human_size(n: int | None) -> str:
    if n is None:
        return "no limit"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.globals.update(base=BASE, nav=NAV)
    env.filters.update(url=lambda p: quote(p, safe="/"), size=human_size, when=lambda ms: (iso(ms) or "-")[:19]
                       .replace("T", " "))
    return env


class Web:
    """The context and templates of the web app, and the wrappers every route goes through."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.env = make_env()

    def render(self, request: Request, template: str, signed: Signed | None, status: int = 200,
               **values: Any) -> HTMLResponse:
        values.setdefault("note", request.query_params.get("note"))
        values.setdefault("error", request.query_params.get("error"))
        values.setdefault("page", "")
        html = self.env.get_template(template).render(
            user=signed.session.user if signed else None, csrf=signed.csrf if signed else "", **values)
        return HTMLResponse(html, status_code=status)

    def page(self, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A page for a signed-in user (GET) or a form it posts (POST: CSRF and origin checked, then redirect)."""
        return self._guarded(fn, page=True)

    def endpoint(self, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A download or an upload: a missing session answers 401 rather than a redirect to the sign-in form."""
        return self._guarded(fn, page=False)

    def admin(self, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def only_admins(request: Request, signed: Signed) -> Response:
            if not signed.session.user.is_admin:
                raise Refused("This page is for the server's administrators.")
            return await fn(request, signed)
        return self.page(only_admins)

    def _guarded(self, fn: Handler, page: bool) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def run(request: Request) -> Response:
            try:
                signed = await run_in_threadpool(sessions.current, self.ctx, request)
                if request.method not in sessions.SAFE_METHODS:
                    form = await read_form(request)
                    sessions.check_csrf(signed, request, form)
                    request.state.form = form
                return await fn(request, signed)
            except SignInNeeded:
                if page and request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"{BASE}/login?{urlencode({'next': target})}", status_code=303)
                return PlainTextResponse("Sign in first.", status_code=401)
            except Refused as exc:
                return PlainTextResponse(exc.message, status_code=exc.status)
            except ActionFailed as exc:
                if page and request.method == "GET":
                    return PlainTextResponse(exc.message, status_code=exc.status)
                if page:
                    return back(request, error=exc.message)
                return PlainTextResponse(exc.message, status_code=exc.status)
        return run


async def read_form(request: Request) -> dict[str, str]:
    """The posted url-encoded form (the pages send nothing else; uploads are raw bodies with the token in a header),
    first value of each field."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise ActionFailed("That form is too large.", 413)
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ActionFailed("That form is not UTF-8.") from None
        return {k: v[0] for k, v in fields.items()}
    return {}


def form(request: Request) -> dict[str, str]:
    found: dict[str, str] = request.state.form
    return found


def back(request: Request, **message: str) -> RedirectResponse:
    """Post/redirect/get: to the form's `back` field (a path of this app only) or its referring page, with a note."""
    target = form(request).get("back") if hasattr(request.state, "form") else None
    if not target or not target.startswith(BASE + "/") or target.startswith("//"):
        target = f"{BASE}/files/"
    target = target.split("?")[0]
    return RedirectResponse(f"{target}?{urlencode(message)}" if message else target, status_code=303)


def to(path: str, **message: str) -> RedirectResponse:
    return RedirectResponse(f"{BASE}/{path}" + (f"?{urlencode(message)}" if message else ""), status_code=303)
