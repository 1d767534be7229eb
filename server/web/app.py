"""The web app as one Starlette application, mounted by server/app.py at /web.

Why Starlette + Jinja2 pages with one small JS file and one CSS file, like the daemon's settings window (which the
server may not import, so this is the server's own): the server already runs on Starlette (under FastAPI), pages
rendered on the server need no build step and nothing fetched at install or run time, forms work without
JavaScript, and a strict Content-Security-Policy (`default-src 'self'`, no inline script) holds because nothing
is inline. The JavaScript only adds what a form cannot do: streamed uploads and confirmations.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferrysync.server.context import AppContext
from ferrysync.server.web.account import AccountPages
from ferrysync.server.web.admin import AdminPages
from ferrysync.server.web.common import BASE, HERE, Web
from ferrysync.server.web.folder_share_pages import FolderSharePages
from ferrysync.server.web.pages import FilePages
from ferrysync.server.web.share_pages import SharePages

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # not no-referrer: Chromium then sends "Origin: null"
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Every answer of the web app carries the headers above (unless a route set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, wrapped if scope["type"] == "http" else send)


def build_web(ctx: AppContext) -> ASGIApp:
    web = Web(ctx)

    async def home(_request: Request) -> Response:
        return RedirectResponse(f"{BASE}/files/", status_code=303)

    routes = [Route("/", home), *FilePages(web).routes(), *AccountPages(web).routes(), *AdminPages(web).routes(),
              *SharePages(web).routes(), *FolderSharePages(web).routes(),
              Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")]
    return SecurityHeaders(Starlette(routes=routes))
