"""The public pages of share links (no account): `GET /s/{token}` shows the shared file or folder (or a password
form), `POST /s/{token}` takes the password, `GET /s/{token}/download` sends the file, a folder as a streamed zip,
or with `?path=` one file inside a shared folder.

Answers are small server-rendered pages (Jinja2, autoescaped, no script, CSS from this server only) under a strict
Content-Security-Policy, with no Referer sent onwards (the token is in the URL) and nothing cached. An unknown
token (or one of the wrong shape, refused before any lookup) is 404; a revoked or expired link, or one whose file
was deleted, is 410 with a page saying which. Downloads are counted per link and rate-limited (links/throttle.py);
a password, once given, is remembered by a signed cookie scoped to the link's path (links/grants.py).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from importlib import resources
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ferrysync.server.blocks.base import BlockCorrupt
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.limits import MAX_PASSWORD_CHARS, SHARE_GRANT_S, SHARE_PAGE_ENTRIES
from ferrysync.server.links import grants
from ferrysync.server.links.throttle import LinkThrottle
from ferrysync.server.passwords import token_hash, verify_password
from ferrysync.server.paths import PathError, validate_path
from ferrysync.server.routes.common import iso
from ferrysync.server.store.base import Entry
from ferrysync.server.store.rows import now_ms
from ferrysync.server.store.shares import ShareLink
from ferrysync.server.zipstream import members_of, stream_file, stream_zip

router = APIRouter(prefix="/s", include_in_schema=False)
Ctx = Annotated[AppContext, Depends(get_ctx)]

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # passwords.new_token(): 32 bytes, URL-safe base64 unpadded
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
_GONE = {"revoked": "This link was turned off by the person who shared it.",
         "expired": "This link has expired.",
         "gone": "What this link shared has been deleted."}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("ferrysync.server.links", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined)


def _css() -> bytes:
    return resources.files("ferrysync.server.links").joinpath("templates/links.css").read_bytes()


def _page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _message(status: int, title: str, text: str) -> HTMLResponse:
    return _page("message.html", status, title=title, text=text)


class Refused(Exception):
    """Stop handling a visit and answer with this page."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _resolve(ctx: AppContext, token: str) -> tuple[ShareLink, Entry]:
    """The active link of this token and its live target, or Refused(404/410 page)."""
    found = ctx.meta.share_by_token(token_hash(token)) if TOKEN_SHAPE.fullmatch(token) else None
    if found is None:
        raise Refused(_message(404, "No such link", "This link does not exist. Check that it was copied whole."))
    link, target = found
    state = link.state(now_ms())
    if state != "active" or target is None:
        raise Refused(_message(410, "Link no longer available", _GONE.get(state, _GONE["gone"])))
    return link, target


def _granted(request: Request, link: ShareLink) -> bool:
    if not link.has_password:
        return True
    return grants.valid(request.cookies.get(grants.GRANT_COOKIE), link.grant_key, link.id, now_ms())


def _cookie(response: Response, request: Request, token: str, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=f"/s/{token}", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _password_form(request: Request, token: str, error: str | None, status: int) -> Response:
    """The password form; it names nothing of what is shared (not even whether it is a file or a folder)."""
    csrf = request.cookies.get(grants.CSRF_COOKIE) or grants.new_csrf()
    response = _page("password.html", status, csrf=csrf, error=error, action=f"/s/{token}")
    _cookie(response, request, token, grants.CSRF_COOKIE, csrf, SHARE_GRANT_S)
    return response


@router.get("/_static/links.css")
def stylesheet() -> Response:
    return Response(_css(), media_type="text/css", headers={"Cache-Control": "max-age=3600",
                                                             "X-Content-Type-Options": "nosniff"})


@router.get("/{token}")
def show(token: str, request: Request, ctx: Ctx) -> Response:
    try:
        link, target = _resolve(ctx, token)
    except Refused as refused:
        return refused.response
    if not _granted(request, link):
        return _password_form(request, token, None, 200)
    rows: list[dict[str, Any]] = []
    more = 0
    if target.kind == "dir":
        below = ctx.meta.live_subtree(link.user_id, target.path)
        more = max(0, len(below) - SHARE_PAGE_ENTRIES)
        cut = len(target.path) + 1
        for e in below[:SHARE_PAGE_ENTRIES]:
            rel = e.path[cut:]
            rows.append({"rel": rel, "kind": e.kind, "size": e.size, "depth": rel.count("/"),
                         "href": f"/s/{token}/download?{urllib.parse.urlencode({'path': rel})}"})
    return _page("share.html", name=_name(target.path), kind=target.kind, size=target.size, rows=rows, more=more,
                 download=f"/s/{token}/download", expires=iso(link.expires_at))


@router.post("/{token}")
async def give_password(token: str, request: Request, ctx: Ctx) -> Response:
    try:
        link, _target = await run_in_threadpool(_resolve, ctx, token)
    except Refused as refused:
        return refused.response
    if not link.has_password:
        return RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)
    password, csrf = await _form(request)
    if not grants.csrf_ok(request.cookies.get(grants.CSRF_COOKIE), csrf):
        return _password_form(request, token, "Your session expired: please try again.", 403)
    host = request.client.host if request.client else None
    wait = await run_in_threadpool(LinkThrottle.of(ctx.meta, ctx.config).password_attempt, link.id, host)
    if wait:
        response = _password_form(request, token,
                                  f"Too many attempts: try again in {wait} seconds.", 429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        right = await ctx.hashing.run(verify_password, link.password_hash, password)
    except ApiError as busy:
        return _message(busy.status, "Busy", "The server is busy: try again in a moment.")
    if not right:
        return _password_form(request, token, "That password is not right.", 403)
    until = min(now_ms() + SHARE_GRANT_S * 1000, link.expires_at or 2**62)
    response = RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)
    _cookie(response, request, token, grants.GRANT_COOKIE, grants.issue(link.grant_key, link.id, until),
            max(1, (until - now_ms()) // 1000))
    return response


async def _form(request: Request) -> tuple[str, str]:
    """The password form's fields (url-encoded: the form sends nothing else, so no multipart parser is needed;
    the body is held to the unauthenticated limit by the body-limit middleware)."""
    try:
        fields = urllib.parse.parse_qs((await request.body()).decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return "", ""
    password = fields.get("password", [""])[0][:MAX_PASSWORD_CHARS]
    return password, fields.get("csrf", [""])[0]


def _read_block(ctx: AppContext) -> Any:
    def read(digest: str) -> bytes:
        # A missing or damaged block ends the stream: the visitor's download fails visibly (a short file, a zip
        # that does not open) instead of passing for whole. The operator learns of it from the log.
        try:
            return ctx.blocks.get(digest)
        except (KeyError, BlockCorrupt):
            ctx.metrics.add("ferry_blocks_corrupt_total")
            raise
    return read


def _attachment(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def _download_headers(name: str, size: int | None) -> dict[str, str]:
    headers = {**HEADERS, "Content-Disposition": _attachment(name),
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


@router.get("/{token}/download")
def download(token: str, request: Request, ctx: Ctx,
             path: Annotated[str | None, Query(max_length=4096)] = None) -> Response:
    try:
        link, target = _resolve(ctx, token)
    except Refused as refused:
        return refused.response
    if not _granted(request, link):
        return RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)
    entry = target
    if path is not None:
        if target.kind != "dir":
            return _message(404, "Not found", "This link shares a single file.")
        try:
            inner = validate_path(path)
        except PathError:
            return _message(400, "Bad request", "That is not a path inside the shared folder.")
        found = ctx.meta.live_entry(link.user_id, f"{target.path}/{inner}")
        if found is None:
            return _message(404, "Not found", "There is no such file in the shared folder (any more).")
        entry = found
    host = request.client.host if request.client else None
    wait = LinkThrottle.of(ctx.meta, ctx.config).download(link.id, host)
    if wait:
        response = _message(429, "Too many downloads", f"This link is busy: try again in {wait} seconds.")
        response.headers["Retry-After"] = str(wait)
        return response
    ctx.meta.count_share_download(link.id)
    read = _read_block(ctx)
    body: Iterator[bytes]
    if entry.kind == "file":
        body = stream_file(entry, read)
        headers = _download_headers(_name(entry.path), entry.size)
        ctx.metrics.add("ferry_block_bytes_downloaded_total", entry.size)
    else:
        top = _name(entry.path)
        body = stream_zip(members_of(entry, ctx.meta.live_subtree(link.user_id, entry.path), top), read)
        headers = _download_headers(f"{top}.zip", None)
    return StreamingResponse(body, media_type="application/zip" if entry.kind == "dir"
                             else "application/octet-stream", headers=headers)
