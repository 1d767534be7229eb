"""Numbered journal schema migrations: `PRAGMA user_version` is the number of migrations applied.
 Migrations are append-only: never edit a released one, add the next. Each runs in its own transaction with
the new user_version, so a crash mid-migration leaves the journal at the previous version, ready to try again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


class SchemaTooNew(Exception):
    """The journal was written by a newer Ferry; refusing to guess at its meaning."""


def _run(c: sqlite3.Connection, script: str) -> None:
    """Run DDL statements one by one (executescript would COMMIT the migration's transaction early)."""
    for statement in script.split(";"):
        if statement.strip():
            c.execute(statement)


def _m1_trees(c: sqlite3.Connection) -> None:
    """The three trees, the dirty-path queue, per-folder state and meta (the first released schema)."""
    _run(
        c,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE local (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
            executable INTEGER NOT NULL, content_hash BLOB, blocks BLOB, link_target TEXT,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        CREATE INDEX local_inode ON local (folder_id, inode);
        CREATE INDEX local_hash ON local (content_hash);
        CREATE TABLE remote (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, file_id TEXT NOT NULL,
            rev INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            executable INTEGER NOT NULL, content_hash BLOB, blocks BLOB,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        CREATE INDEX remote_file_id ON remote (folder_id, file_id);
        CREATE TABLE synced (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, file_id TEXT NOT NULL,
            rev INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
            executable INTEGER NOT NULL, content_hash BLOB, blocks BLOB,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        CREATE INDEX synced_file_id ON synced (folder_id, file_id);
        CREATE INDEX synced_inode ON synced (folder_id, inode);
        CREATE TABLE dirty (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, ready_at REAL NOT NULL,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        CREATE INDEX dirty_ready ON dirty (ready_at);
        CREATE INDEX dirty_folder_ready ON dirty (folder_id, ready_at);
        CREATE TABLE folder_state (
            folder_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL DEFAULT 0, marker_id TEXT) WITHOUT ROWID;
        """,
    )


def _m2_transfers(c: sqlite3.Connection) -> None:
    """Chunk reuse index, resumable transfers, per-path error backoff and the activity history."""
    _run(
        c,
        """
        CREATE TABLE local_block (
            block BLOB NOT NULL, folder_id TEXT NOT NULL, path TEXT NOT NULL,
            offset INTEGER NOT NULL, length INTEGER NOT NULL,
            PRIMARY KEY (folder_id, path, offset)) WITHOUT ROWID;
        CREATE INDEX local_block_hash ON local_block (block);
        CREATE TABLE transfer (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, direction TEXT NOT NULL,
            content_hash TEXT NOT NULL, temp_path TEXT, done TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (folder_id, path, direction)) WITHOUT ROWID;
        CREATE TABLE backoff (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, attempts INTEGER NOT NULL,
            next_try REAL NOT NULL, message TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        CREATE TABLE activity (
            id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, folder_id TEXT NOT NULL,
            path TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
        """,
    )


def _m3_folder_scan(c: sqlite3.Connection) -> None:
    """Remember when each folder was last fully scanned (the periodic rescan is scheduled from it)."""
    c.execute("ALTER TABLE folder_state ADD COLUMN last_scan REAL")


def _m4_conflicts(c: sqlite3.Connection) -> None:
    """Conflicted copies in a table of their own: the activity history is pruned, a copy the user has not
    resolved must stay listed (it was rebuilt from the last 1,000 activity rows before)."""
    _run(
        c,
        """
        CREATE TABLE conflict (
            folder_id TEXT NOT NULL, path TEXT NOT NULL, original TEXT NOT NULL, ts REAL NOT NULL,
            PRIMARY KEY (folder_id, path)) WITHOUT ROWID;
        INSERT OR REPLACE INTO conflict (folder_id, path, original, ts)
            SELECT folder_id, path, detail, ts FROM activity WHERE action = 'conflict' ORDER BY id;
        """,
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_m1_trees, _m2_transfers, _m3_folder_scan,
                                                                  _m4_conflicts)
LATEST = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Apply the missing migrations up to `target`, each in its own transaction; return the version reached.

    `conn` must be in autocommit mode (isolation_level=None) so the BEGIN/COMMIT here are the only ones.
    """
    current = version(conn)
    if current > LATEST:
        raise SchemaTooNew(f"journal schema version {current} is newer than this Ferry knows ({LATEST})")
    for number in range(current + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number - 1](conn)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return version(conn)
