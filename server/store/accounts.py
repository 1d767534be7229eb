"""Users' settings (password, quota, admin flag) and the web app's sessions, on an open connection.

Sessions are rows keyed by the SHA-256 of the browser's token (server/web/sessions.py makes and hashes tokens), so
every server process on one PostgreSQL database recognises a browser another process signed in, and a leaked
database signs nobody in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from ferrysync.server.store.base import User, WebSession
from ferrysync.server.store.schema import users, web_sessions


def user_from_row(row: Any) -> User:
    quota = row.quota_bytes
    return User(id=int(row.id), name=row.name, created_at=int(row.created_at),
                quota_bytes=None if quota is None else int(quota), is_admin=bool(row.is_admin))


def user_by_id(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return user_from_row(row) if row is not None else None


def set_user_field(conn: Connection, name: str, **values: Any) -> bool:
    """Set columns of the user called `name`; False when there is no such user."""
    return bool(conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount)


def add_session(conn: Connection, user_id: int, token_hash: str, now: int, expires_at: int) -> None:
    conn.execute(insert(web_sessions).values(token_hash=token_hash, user_id=user_id, created_at=now, last_seen=now,
                                             expires_at=expires_at))


def session(conn: Connection, token_hash: str, now: int) -> WebSession | None:
    """The unexpired session with this token hash, with its user as they are now (quota, admin flag)."""
    ws = web_sessions
    query = select(ws.c.token_hash, ws.c.created_at.label("s_created"), ws.c.last_seen, ws.c.expires_at,
                   users.c.id, users.c.name, users.c.created_at, users.c.quota_bytes, users.c.is_admin,
                   ).join(users, users.c.id == ws.c.user_id).where(and_(ws.c.token_hash == token_hash,
                                                                         ws.c.expires_at > now))
    row = conn.execute(query).first()
    if row is None:
        return None
    return WebSession(token_hash=row.token_hash, user=user_from_row(row), created_at=int(row.s_created),
                      last_seen=int(row.last_seen), expires_at=int(row.expires_at))


def touch_session(conn: Connection, token_hash: str, now: int, expires_at: int) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.token_hash == token_hash)
                 .values(last_seen=now, expires_at=expires_at))


def end_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


def end_sessions(conn: Connection, user_id: int, keep: str | None, now: int) -> int:
    """End the user's sessions but `keep` (the one changing the password); also drops expired rows of anyone."""
    cond = web_sessions.c.user_id == user_id
    if keep is not None:
        cond = and_(cond, web_sessions.c.token_hash != keep)
    ended = int(conn.execute(delete(web_sessions).where(cond)).rowcount)
    prune_sessions(conn, now)
    return ended


def prune_sessions(conn: Connection, now: int) -> int:
    """Drop expired sessions (they are refused already; this only keeps the table small)."""
    return int(conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now)).rowcount)
