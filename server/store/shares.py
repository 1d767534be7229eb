"""Share links in the metadata database: creating, listing, revoking and resolving them, their download counts,
and the shared fixed-window counters that rate-limit them (tables `share_links` and `share_hits`, schema.py).

A link names its target by `file_id`, so it follows the file or folder through moves and renames (a move keeps
the file id, store/tree.py); once no live entry has that id (deleted, or deleted and re-created, which makes a new
id) the link is "gone". Folder links expose the live subtree under wherever the folder is now.

These functions run on an open connection; SqlMetaStore wraps each in its transaction (and the write gate on
SQLite). The web app lists, creates and revokes links through the same MetaStore methods as the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, and_, case, delete, insert, select, update

from ferrysync.server.store import browse
from ferrysync.server.store.base import Entry, Kind
from ferrysync.server.store.blockmarks import upsert
from ferrysync.server.store.schema import share_hits, share_links

ShareState = Literal["active", "expired", "revoked", "gone"]


@dataclass(frozen=True)
class ShareLink:
    """One share link as stored, with where its target is now (`current_path`: None when it is gone)."""

    id: str
    user_id: int
    file_id: str
    path: str  # where the target was when the link was made
    kind: Kind
    password_hash: str | None
    grant_key: str
    created_at: int
    created_by: str | None
    expires_at: int | None
    revoked_at: int | None
    downloads: int
    last_download_at: int | None
    current_path: str | None = None

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    def state(self, now: int) -> ShareState:
        """What a visitor meets: revoked first (the owner's decision), then expiry, then a target that is gone."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.current_path is None:
            return "gone"
        return "active"


def _link(row: Any, current_path: str | None) -> ShareLink:
    return ShareLink(
        id=row.id, user_id=int(row.user_id), file_id=row.file_id, path=row.path, kind=row.kind,
        password_hash=row.password_hash, grant_key=row.grant_key, created_at=int(row.created_at),
        created_by=row.created_by, expires_at=None if row.expires_at is None else int(row.expires_at),
        revoked_at=None if row.revoked_at is None else int(row.revoked_at), downloads=int(row.downloads),
        last_download_at=None if row.last_download_at is None else int(row.last_download_at),
        current_path=current_path)


def _current(conn: Connection, user_id: int, file_id: str) -> Entry | None:
    """Where the link's target is now in its maker's tree, folders shared with them included (browse.by_file_id):
    a link to a folder that its owner later shares with others keeps working, and one a member made to a file in
    a folder shared with them stops (gone) once the folder is no longer shared with them."""
    return browse.by_file_id(conn, user_id, file_id)


def create(conn: Connection, values: dict[str, Any]) -> ShareLink:
    conn.execute(insert(share_links).values(downloads=0, revoked_at=None, last_download_at=None, **values))
    row = conn.execute(select(share_links).where(share_links.c.id == values["id"])).one()
    return _link(row, values["path"])


def listing(conn: Connection, user_id: int) -> list[ShareLink]:
    """The user's links that are not revoked, newest first, each with its target's current path."""
    rows = conn.execute(select(share_links).where(and_(
        share_links.c.user_id == user_id, share_links.c.revoked_at.is_(None)))
        .order_by(share_links.c.created_at.desc(), share_links.c.id)).all()
    out = []
    for row in rows:
        target = _current(conn, user_id, row.file_id)
        out.append(_link(row, target.path if target is not None else None))
    return out


def revoke(conn: Connection, user_id: int, share_id: str, now: int) -> bool:
    return bool(conn.execute(update(share_links).where(and_(
        share_links.c.id == share_id, share_links.c.user_id == user_id, share_links.c.revoked_at.is_(None)))
        .values(revoked_at=now)).rowcount)


def by_token(conn: Connection, token_hash: str) -> tuple[ShareLink, Entry | None] | None:
    """The link whose token hashes to `token_hash` (revoked and expired ones too: the caller says which it is),
    and its live target."""
    row = conn.execute(select(share_links).where(share_links.c.token_hash == token_hash)).first()
    if row is None:
        return None
    target = _current(conn, int(row.user_id), row.file_id)
    return _link(row, target.path if target is not None else None), target


def count_download(conn: Connection, share_id: str, now: int) -> None:
    conn.execute(update(share_links).where(share_links.c.id == share_id)
                 .values(downloads=share_links.c.downloads + 1, last_download_at=now))


def hit(conn: Connection, key: str, window_start: int) -> int:
    """Count one hit on `key` in the window starting at `window_start` (a new window starts from 1); returns the
    key's hits in this window, this one included. One upsert: concurrent hits never see a stale count."""
    stmt = upsert(conn, share_hits).values(key=key, window_start=window_start, hits=1)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "hits": case((share_hits.c.window_start < window_start, 1), else_=share_hits.c.hits + 1),
        "window_start": window_start,
    })
    conn.execute(stmt)
    return int(conn.execute(select(share_hits.c.hits).where(share_hits.c.key == key)).scalar_one())


def prune_hits(conn: Connection, before: int) -> int:
    return int(conn.execute(delete(share_hits).where(share_hits.c.window_start < before)).rowcount)
