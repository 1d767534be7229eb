"""Namespaces and mounts: folders shared between users.

Files move from per-user tables to per-namespace ones. Every existing user gets a root namespace whose id is their
user id and whose counters are their `users.seq` / `users.pruned_seq`, so every entry keeps its path, seq and
revisions, every device's feed cursor stays valid (a user without mounts still gets integer cursors), and every
block holding stays (`user_blocks` becomes `ns_blocks`, keyed by the root namespace). Tables are copied rather than
altered: SQLite cannot change a foreign key in place, and the copy is the same on both dialects.

The tables of 0004 (share links) and 0005 (web app) stay as they are: `share_links` keeps its `user_id` (the
link's maker; a link finds its target by file id in the maker's tree, mounts included, and file ids are kept
here), `web_sessions` and the quota/admin columns of `users` are untouched (`users` is altered in place, never
copied: a DROP of `users` would cascade into every table keyed by it).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_VERSION = ("path, path_key, file_id, kind, deleted, size, mtime_ns, executable, content_hash, blocks, "
            "modified_by")


def _version_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("executable", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("blocks", sa.Text, nullable=False),
        sa.Column("modified_by", sa.String(255), nullable=True),
    ]


def _ns_fk(primary: bool = False) -> sa.Column[object]:
    return sa.Column("ns_id", sa.Integer, sa.ForeignKey("namespaces.id", ondelete="CASCADE"),
                     nullable=False, primary_key=primary)


def _reset_serial(table: str) -> None:
    """PostgreSQL: ids were inserted explicitly, so move the table's id sequence past them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                   f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")


def upgrade() -> None:
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pruned_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_namespaces_owner", "namespaces", ["owner_id", "kind"])
    op.execute("INSERT INTO namespaces (id, owner_id, kind, seq, pruned_seq, created_at) "
               "SELECT id, id, 'root', seq, pruned_seq, created_at FROM users")
    if op.get_bind().dialect.name == "sqlite":
        # Namespace ids must never reuse a removed user's id either (they key the notifier): start past them.
        op.execute("INSERT OR REPLACE INTO sqlite_sequence (name, seq) SELECT 'namespaces', MAX(seq) "
                   "FROM sqlite_sequence WHERE name IN ('users', 'namespaces')")
    _reset_serial("namespaces")

    op.create_table(
        "mounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        _ns_fk(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_mounts_user_ns", "mounts", ["user_id", "ns_id"], unique=True)
    op.create_index("ux_mounts_user_path", "mounts", ["user_id", "path_key"], unique=True)
    op.create_index("ix_mounts_ns", "mounts", ["ns_id"])

    op.create_table(
        "entries_ns",
        _ns_fk(),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *_version_columns(),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("ns_id", "path_key", name="pk_entries_ns"),
    )
    op.execute(f"INSERT INTO entries_ns (ns_id, seq, changed_at, {_VERSION}) "
               f"SELECT user_id, seq, changed_at, {_VERSION} FROM entries")
    op.drop_table("entries")
    op.rename_table("entries_ns", "entries")
    op.create_index("ix_entries_ns_seq", "entries", ["ns_id", "seq"])
    op.create_index("ix_entries_ns_file", "entries", ["ns_id", "file_id"])

    op.create_table(
        "revisions_ns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _ns_fk(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        *_version_columns(),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("superseded_at", sa.BigInteger, nullable=True),
    )
    op.execute(f"INSERT INTO revisions_ns (id, ns_id, rev, created_at, superseded_at, {_VERSION}) "
               f"SELECT id, user_id, rev, created_at, superseded_at, {_VERSION} FROM revisions")
    op.drop_table("revisions")
    op.rename_table("revisions_ns", "revisions")
    _reset_serial("revisions")
    op.create_index("ix_revisions_ns_key_rev", "revisions", ["ns_id", "path_key", "rev"])
    op.create_index("ix_revisions_superseded", "revisions", ["superseded_at"])

    op.create_table(
        "ns_blocks",
        _ns_fk(primary=True),
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO ns_blocks (ns_id, hash, size, created_at) "
               "SELECT user_id, hash, size, created_at FROM user_blocks")
    op.drop_table("user_blocks")
    op.create_index("ix_ns_blocks_hash", "ns_blocks", ["hash"])

    # Plain ALTERs (SQLite >= 3.35 drops a column in place): a batch copy of `users` would DROP the table, which
    # with foreign keys on would cascade into `devices`.
    op.execute("ALTER TABLE users DROP COLUMN seq")
    op.execute("ALTER TABLE users DROP COLUMN pruned_seq")


def downgrade() -> None:
    raise NotImplementedError("downgrading below 0006 is not supported: restore a backup instead")
