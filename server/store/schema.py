"""Metadata tables (SQLAlchemy Core, portable across SQLite and PostgreSQL).

The tables are created and upgraded by Alembic migrations (server/migrations), which must match this module.
Times are integer milliseconds since the epoch.

Files live in namespaces (the model Dropbox settled on): every user has a root namespace, and a folder shared
between users is a namespace of its own, owned by the user who shared it. `namespaces.seq` is the namespace's
sequence counter: every change to its tree takes the next value inside the commit transaction, and that row update
is what serialises the namespace's commits (a row lock on PostgreSQL), so a feed reader that saw seq N has seen
every row with seq <= N. A user sees their root namespace plus one `mounts` row per shared namespace, at a path of
their root they choose; their change-feed cursor is one position per namespace (server/store/cursor.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Bytes of live files the user may hold (NULL: no limit), enforced at commit and block upload (server/quota.py);
    # shared folders count against their owner's.
    Column("quota_bytes", BigInteger, nullable=True),
    # May use the web app's admin page (users, quotas, passwords): `ferry-server user admin NAME on`.
    Column("is_admin", Boolean, nullable=False, default=False),
    sqlite_autoincrement=True,  # never reuse a removed user's id
)

ROOT = "root"  # namespaces.kind: a user's own tree
SHARED = "shared"  # namespaces.kind: a folder shared between users

# A tree of files with its own sequence counter: a user's root, or a shared folder (owned by `owner_id`, whose
# quota it counts against).
namespaces = Table(
    "namespaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("seq", BigInteger, nullable=False, default=0),
    # Highest seq of a tombstone removed by retention: a feed cursor below it can no longer be served.
    Column("pruned_seq", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_namespaces_owner", "owner_id", "kind"),
    sqlite_autoincrement=True,  # never reuse an id (ids key in-memory notifier state)
)

OWNER, READ_WRITE, READ_ONLY = "owner", "rw", "ro"  # mounts.role

# Where a user sees a shared namespace: a folder of their root namespace (`path`), with their role in it. The
# owner has one too (role "owner"). A moved mount gets a new id, which is what tells a feed cursor that named the
# old one to list again (ids are never reused).
mounts = Table(
    "mounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("ns_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("path_key", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_mounts_user_ns", "user_id", "ns_id", unique=True),
    Index("ux_mounts_user_path", "user_id", "path_key", unique=True),
    Index("ix_mounts_ns", "ns_id"),
    sqlite_autoincrement=True,
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    # When the current token was issued (NULL: at created_at); it expires --token-ttl-days later (server/tokens.py).
    Column("token_issued_at", BigInteger, nullable=True),
    # The token a renewal replaced, still accepted until prev_token_until (the device may not have stored the new).
    Column("prev_token_hash", String(64), nullable=True),
    Column("prev_token_until", BigInteger, nullable=True),
    Index("ix_devices_user", "user_id"),
    Index("ix_devices_prev_token", "prev_token_hash"),
)

# The web app's signed-in browsers (server/web/sessions.py): only the SHA-256 of each session token is kept, so a
# copy of the database signs nobody in; in the database so that every server process on PostgreSQL shares them.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_expires", "expires_at"),
)

# Recent failed logins per key ("user:NAME", "addr:ADDRESS"): the login throttle (server/throttle.py), in the
# database so that every server process on one PostgreSQL database counts the same failures.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Index("ix_login_failures_last", "last_failure"),
)


def _version_columns() -> list[Column[Any]]:
    """What one version of a path holds, in an entry and in a revision alike (new objects per table: a Column
    belongs to one table). Each change here needs a migration."""
    return [
        Column("deleted", Boolean, nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("mtime_ns", BigInteger, nullable=False),
        Column("executable", Boolean, nullable=False),
        Column("content_hash", String(64), nullable=True),
        Column("blocks", Text, nullable=False),
        Column("modified_by", String(255), nullable=True),
    ]


# One row per (namespace, path): the live entry or its tombstone. The change feed is this table ordered by seq.
# Rows are keyed by `path_key` = SHA-256 of the path (rows.path_key): PostgreSQL cannot index 4 KiB paths.
entries = Table(
    "entries",
    metadata,
    Column("ns_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
    Column("path_key", String(64), primary_key=True),
    Column("path", Text, nullable=False),
    Column("file_id", String(32), nullable=False),
    Column("kind", String(4), nullable=False),
    Column("seq", BigInteger, nullable=False),
    *_version_columns(),
    Column("changed_at", BigInteger, nullable=False),
    Index("ix_entries_ns_seq", "ns_id", "seq"),
    Index("ix_entries_ns_file", "ns_id", "file_id"),
)

# Every version a path has had (including deletions), for listing and restoring; pruned by retention.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ns_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("path_key", String(64), nullable=False),
    Column("rev", BigInteger, nullable=False),
    Column("file_id", String(32), nullable=False),
    Column("kind", String(4), nullable=False),
    *_version_columns(),
    Column("created_at", BigInteger, nullable=False),
    # When a newer version replaced this one: retention counts from here, so the current version is never pruned.
    Column("superseded_at", BigInteger, nullable=True),
    Index("ix_revisions_ns_key_rev", "ns_id", "path_key", "rev"),
    Index("ix_revisions_superseded", "superseded_at"),
)

# Which blocks each namespace holds: block existence and downloads are answered from here, never from the shared
# store. Uploads are recorded in the uploader's root namespace; a commit into a shared namespace copies the holdings
# its files use, so every member may download them.
ns_blocks = Table(
    "ns_blocks",
    metadata,
    Column("ns_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
    Column("hash", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_ns_blocks_hash", "hash"),
)

# Garbage-collection handshake per block: "upload" (an upload is writing it; refreshed by every upload) or "delete"
# (a collector is removing it). The primary key makes the two exclude each other across processes.
block_marks = Table(
    "block_marks",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("state", String(8), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_block_marks_at", "at"),
)

# Share links (store/shares.py): a file or folder of a user's tree readable by whoever holds the link's token.
# Only the token's SHA-256 is stored. The link names its target by `file_id` (it follows moves and renames);
# `path` is where the target was when the link was made (shown when the target is gone). `grant_key` signs the
# short-lived cookie a visitor gets after giving the right password (links/grants.py): revoking the link voids it.
share_links = Table(
    "share_links",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("file_id", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(4), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("grant_key", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("downloads", BigInteger, nullable=False, default=0),
    Column("last_download_at", BigInteger, nullable=True),
    Index("ix_share_links_user", "user_id"),
)

# Fixed-window hit counters of the share-link throttle (links/throttle.py), one row per key ("link:ID",
# "addr:ADDRESS", "pw:link:ID", ...), in the database so every server process counts the same hits.
share_hits = Table(
    "share_hits",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("window_start", BigInteger, nullable=False),
    Column("hits", Integer, nullable=False),
    Index("ix_share_hits_window", "window_start"),
)
