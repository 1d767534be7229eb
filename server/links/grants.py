"""What a visitor who gave a link's password carries: a short-lived cookie signed with the link's own key
(`share_links.grant_key`), and the double-submit token that guards the password form against cross-site posts.

Signing with a per-link key stored in the database (rather than a per-process secret) makes a grant valid in every
server process on one database, and revoking the link voids every grant at once. Pure functions: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

GRANT_COOKIE = "ferry_link"
CSRF_COOKIE = "ferry_link_csrf"


def _mac(key: str, share_id: str, until_ms: int) -> str:
    return hmac.new(key.encode("ascii"), f"{share_id}.{until_ms}".encode("ascii"), hashlib.sha256).hexdigest()


def issue(key: str, share_id: str, until_ms: int) -> str:
    return f"{until_ms}.{_mac(key, share_id, until_ms)}"


def valid(value: str | None, key: str, share_id: str, now_ms: int) -> bool:
    """Whether a grant cookie is this link's, unaltered, and not yet expired."""
    if not value:
        return False
    until, _, mac = value.partition(".")
    if not (until.isascii() and until.isdigit()) or len(until) > 15 or int(until) <= now_ms:
        return False
    return hmac.compare_digest(mac.encode("utf-8", "replace"), _mac(key, share_id, int(until)).encode("ascii"))


def new_csrf() -> str:
    return secrets.token_urlsafe(16)


def csrf_ok(cookie: str | None, field: str | None) -> bool:
    if not cookie or not field:
        return False
    return hmac.compare_digest(cookie.encode("utf-8", "replace"), field.encode("utf-8", "replace"))
