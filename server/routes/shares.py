"""Share links for their owner (device token auth): create, list, revoke. The public side is server/links/pages.py;
making and showing a link is links/owner.py (shared with the web app). A link follows its target by file id: see
store/shares.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.links import owner
from ferrysync.server.models import Empty, ShareCreated, ShareCreateRequest, SharesResponse
from ferrysync.server.passwords import hash_password
from ferrysync.server.routes.common import checked_path
from ferrysync.server.store.rows import now_ms

router = APIRouter(prefix="/v1", tags=["shares"])
Ctx = Annotated[AppContext, Depends(get_ctx)]


@router.post("/shares", response_model=ShareCreated, status_code=201,
             responses={404: {"description": "no live file or folder at this path"},
                        503: {"description": "too many password hashes at once: see Retry-After"}})
async def create_share(body: ShareCreateRequest, request: Request, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Share a file or folder of the caller's tree by a link: read-only, optionally with a password and an expiry.

    The answer carries the token and the link's URL; they are not shown again (only the token's hash is kept)."""
    path = checked_path(body.path)
    now = now_ms()
    try:
        expires_at = owner.expiry(now, body.expires_in, body.expires_at)
    except owner.BadExpiry as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    target = ctx.meta.live_entry(caller.user_id, path)
    if target is None:
        raise ApiError(404, "not_found", "no file or folder at this path", path=path)
    password_hash = await ctx.hashing.run(hash_password, body.password) if body.password is not None else None
    link, token = owner.issue(ctx.meta, caller.user_id, target, password_hash, expires_at, caller.device.name)
    return {"share": owner.share_json(link, now), "token": token, "url": owner.link_url(str(request.base_url), token)}


@router.get("/shares", response_model=SharesResponse)
def list_shares(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """The caller's links that are not revoked (expired and gone ones too, so they can be seen and revoked),
    newest first, with their download counts."""
    now = now_ms()
    return {"shares": [owner.share_json(s, now) for s in ctx.meta.list_shares(caller.user_id)]}


@router.delete("/shares/{share_id}", response_model=Empty,
               responses={404: {"description": "no such link of this user (or revoked already)"}})
def revoke_share(share_id: Annotated[str, Path(max_length=64)], caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Revoke a link: from now on it answers 410, and any password grant given through it stops working."""
    if not ctx.meta.revoke_share(caller.user_id, share_id):
        raise ApiError(404, "not_found", "no such share link", share_id=share_id)
    return {}
