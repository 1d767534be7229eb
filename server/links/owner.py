"""What a link's owner does, in one place for the API (routes/shares.py) and the web app's "Shares" page alike:
make a link (its token, the token's hash, its grant key, its expiry checked), and show one.

A token is 32 random bytes, URL-safe base64 (43 characters: links/pages.py refuses any other shape before a
lookup); only its SHA-256 is stored, so `issue` returns the token for showing once. The caller hashes a password
(argon2id, in the bounded hashing pool: ctx.hashing) before calling `issue`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from ferrysync.server.limits import SHARE_MAX_EXPIRY_S
from ferrysync.server.passwords import new_token, token_hash
from ferrysync.server.routes.common import iso
from ferrysync.server.store.base import Entry, MetaStore
from ferrysync.server.store.shares import ShareLink

LINK_PREFIX = "/s/"


class BadExpiry(ValueError):
    """An expiry the owner gave that cannot be used; the message says why."""


def expiry(now_ms: int, expires_in: int | None, expires_at: str | None) -> int | None:
    """When a new link stops working (ms since the epoch; None: never), from seconds or an RFC 3339 time."""
    if expires_in is not None and expires_at is not None:
        raise BadExpiry("give expires_in or expires_at, not both")
    if expires_in is not None:
        if not 1 <= expires_in <= SHARE_MAX_EXPIRY_S:
            raise BadExpiry(f"expires_in must be from 1 to {SHARE_MAX_EXPIRY_S} seconds (100 years)")
        return now_ms + expires_in * 1000
    if expires_at is None:
        return None
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise BadExpiry("expires_at must be an RFC 3339 time, e.g. 2027-01-31T12:00:00Z") from None
    if when.tzinfo is None:
        raise BadExpiry("expires_at needs a time zone (e.g. a trailing Z for UTC)")
    try:
        at = int(when.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise BadExpiry("expires_at is out of range") from None
    if at <= now_ms:
        raise BadExpiry("expires_at is in the past")
    if at > now_ms + SHARE_MAX_EXPIRY_S * 1000:
        raise BadExpiry("expires_at is more than 100 years away")
    return at


def issue(meta: MetaStore, user_id: int, target: Entry, password_hash: str | None, expires_at: int | None,
          created_by: str | None) -> tuple[ShareLink, str]:
    """Make a link to `target` (a live entry of this user); returns it and its token (shown once, never stored)."""
    token = new_token()
    link = meta.create_share(user_id, target, token_hash(token), password_hash, secrets.token_hex(32), expires_at,
                             created_by)
    return link, token


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PREFIX}{token}"


def share_json(link: ShareLink, now: int) -> dict[str, Any]:
    """A link as the API (and the web app) shows it."""
    return {
        "id": link.id, "path": link.current_path or link.path, "original_path": link.path, "kind": link.kind,
        "state": link.state(now), "created_at": iso(link.created_at), "created_by": link.created_by,
        "expires_at": iso(link.expires_at), "has_password": link.has_password, "downloads": link.downloads,
        "last_download_at": iso(link.last_download_at),
    }
