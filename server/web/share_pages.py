"""The web app's "Shares" page: the signed-in user's share links (make one, see each one's state and downloads,
revoke one).

Making and showing a link is links/owner.py, the same code the API's `/v1/shares` runs (token, hash, grant key,
expiry rules), so a link made here and one made by `ferry share` are the same thing. A new link's URL is shown once,
in the answer to the form that made it (only the token's hash is stored), never in a redirect's URL.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferrysync.server.errors import ApiError
from ferrysync.server.limits import MAX_PASSWORD_CHARS
from ferrysync.server.links import owner
from ferrysync.server.passwords import hash_password
from ferrysync.server.store.rows import now_ms
from ferrysync.server.web.common import Web, form, to
from ferrysync.server.web.files import ActionFailed, checked
from ferrysync.server.web.sessions import Signed

MAX_DAYS = 36_500  # the API's own ceiling is 100 years (owner.expiry)


def expires_in_days(text: str) -> int | None:
    """The form's "expires after N days" (blank: never) as seconds for owner.expiry."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise ActionFailed(f"Expiry: a whole number of days from 1 to {MAX_DAYS}, or blank for never.")
    return int(text) * 86_400


class SharePages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.ctx = web.ctx

    def routes(self) -> list[Route]:
        w = self.web
        return [
            Route("/shares", w.page(self.shares)),
            Route("/shares/new", w.page(self.create), methods=["POST"]),
            Route("/shares/revoke", w.page(self.revoke), methods=["POST"]),
        ]

    async def _render(self, request: Request, signed: Signed, status: int = 200, created: str | None = None,
                      created_path: str | None = None) -> Response:
        links = await run_in_threadpool(self.ctx.meta.list_shares, signed.user_id)
        now = now_ms()
        rows = [owner.share_json(link, now) for link in links]
        return self.web.render(request, "shares.html", signed, status=status, page="shares", title="Shares",
                               shares=rows, created=created, created_path=created_path,
                               prefill=request.query_params.get("path", ""))

    async def shares(self, request: Request, signed: Signed) -> Response:
        return await self._render(request, signed)

    async def create(self, request: Request, signed: Signed) -> Response:
        f = form(request)
        path = checked(f.get("path", ""))
        if not path:
            raise ActionFailed("Choose a file or folder to share (the whole account cannot be shared).")
        try:
            expires_at = owner.expiry(now_ms(), expires_in_days(f.get("days", "")), None)
        except owner.BadExpiry as exc:
            raise ActionFailed(f"Expiry: {exc}.") from None
        password = f.get("password", "")
        if len(password) > MAX_PASSWORD_CHARS:
            raise ActionFailed(f"A password is at most {MAX_PASSWORD_CHARS} characters.")
        target = await run_in_threadpool(self.ctx.meta.live_entry, signed.user_id, path)
        if target is None:
            raise ActionFailed(f"Nothing is at {path}.", 404)
        try:
            hashed = await self.ctx.hashing.run(hash_password, password) if password else None
        except ApiError as exc:  # the hashing pool is full
            raise ActionFailed(exc.message, exc.status) from None
        _link, token = await run_in_threadpool(owner.issue, self.ctx.meta, signed.user_id, target, hashed,
                                               expires_at, "web browser")
        site = str(request.url.replace(path="", query="", fragment=""))
        return await self._render(request, signed, status=201, created=owner.link_url(site, token),
                                  created_path=path)

    async def revoke(self, request: Request, signed: Signed) -> Response:
        share_id = form(request).get("share_id", "")
        if not share_id or not await run_in_threadpool(self.ctx.meta.revoke_share, signed.user_id, share_id):
            raise ActionFailed("No such link.", 404)
        return to("shares", note="Link revoked: it no longer opens.")
