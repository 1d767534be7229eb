"""Share links for their owner (device token auth): create, list, revoke. The public side is server/links/.

A link's token is 32 random bytes (URL-safe base64, 43 characters); only its SHA-256 is stored, so the token is
shown once, in the answer to its creation. A password is hashed like account passwords (argon2id, in the bounded
hashing pool). A link follows its target by file id: see store/shares.py.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from ferrysync.server.auth import CallerDep
from ferrysync.server.context import AppContext, get_ctx
from ferrysync.server.errors import ApiError
from ferrysync.server.models import Empty, ShareCreated, ShareCreateRequest, SharesResponse
from ferrysync.server.passwords import hash_password, new_token, token_hash
from ferrysync.server.routes.common import checked_path, iso
from ferrysync.server.store.rows import now_ms
from ferrysync.server.store.shares import ShareLink

router = APIRouter(prefix="/v1", tags=["shares"])
Ctx = Annotated[AppContext, Depends(get_ctx)]
LINK_PREFIX = "/s/"


def share_json(link: ShareLink, now: int) -> dict[str, Any]:
    """A link as the API (and the web app) shows it."""
    return {
        "id": link.id, "path": link.current_path or link.path, "original_path": link.path, "kind": link.kind,
        "state": link.state(now), "created_at": iso(link.created_at), "created_by": link.created_by,
        "expires_at": iso(link.expires_at), "has_password": link.has_password, "downloads": link.downloads,
        "last_download_at": iso(link.last_download_at),
    }


def _expiry(body: ShareCreateRequest, now: int) -> int | None:
    if body.expires_in is not None and body.expires_at is not None:
        raise ApiError(400, "bad_request", "give expires_in or expires_at, not both")
    if body.expires_in is not None:
        return now + body.expires_in * 1000
    if body.expires_at is None:
        return None
    try:
        when = datetime.fromisoformat(body.expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_request", "expires_at must be an RFC 3339 time, e.g. 2027-01-31T12:00:00Z") from None
    if when.tzinfo is None:
        raise ApiError(400, "bad_request", "expires_at needs a time zone (e.g. a trailing Z for UTC)")
    try:
        at = int(when.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise ApiError(400, "bad_request", "expires_at is out of range") from None
    if at <= now:
        raise ApiError(400, "bad_request", "expires_at is in the past")
    return at


@router.post("/shares", response_model=ShareCreated, status_code=201,
             responses={404: {"description": "no live file or folder at this path"},
                        503: {"description": "too many password hashes at once: see Retry-After"}})
async def create_share(body: ShareCreateRequest, request: Request, caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Share a file or folder of the caller's tree by a link: read-only, optionally with a password and an expiry.

    The answer carries the token and the link's URL; they are not shown again (only the token's hash is kept)."""
    path = checked_path(body.path)
    now = now_ms()
    expires_at = _expiry(body, now)
    target = ctx.meta.live_entry(caller.user_id, path)
    if target is None:
        raise ApiError(404, "not_found", "no file or folder at this path", path=path)
    password_hash = await ctx.hashing.run(hash_password, body.password) if body.password is not None else None
    token = new_token()
    link = ctx.meta.create_share(caller.user_id, target, token_hash(token), password_hash, secrets.token_hex(32),
                                 expires_at, caller.device.name)
    base = str(request.base_url).rstrip("/")
    return {"share": share_json(link, now), "token": token, "url": f"{base}{LINK_PREFIX}{token}"}


@router.get("/shares", response_model=SharesResponse)
def list_shares(caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """The caller's links that are not revoked (expired and gone ones too, so they can be seen and revoked),
    newest first, with their download counts."""
    now = now_ms()
    return {"shares": [share_json(s, now) for s in ctx.meta.list_shares(caller.user_id)]}


@router.delete("/shares/{share_id}", response_model=Empty,
               responses={404: {"description": "no such link of this user (or revoked already)"}})
def revoke_share(share_id: Annotated[str, Path(max_length=64)], caller: CallerDep, ctx: Ctx) -> dict[str, Any]:
    """Revoke a link: from now on it answers 410, and any password grant given through it stops working."""
    if not ctx.meta.revoke_share(caller.user_id, share_id):
        raise ApiError(404, "not_found", "no such share link", share_id=share_id)
    return {}
