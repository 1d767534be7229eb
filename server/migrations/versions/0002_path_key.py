"""Key rows by a SHA-256 of the path, and add block marks for garbage collection across processes.

PostgreSQL caps a btree index entry at about 2.7 KB while paths may be 4 KiB, so (user_id, path) cannot be a key
there: `entries` gets the primary key (user_id, path_key) and `revisions` the index (user_id, path_key, rev).
`block_marks` records uploads in flight and deletions in progress, so an upload and a garbage collection running in
different processes never interleave badly (see store/blockmarks.py).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ENTRY_COLUMNS = ("user_id, path, file_id, kind, seq, deleted, size, mtime_ns, executable, content_hash, blocks, "
                  "modified_by, changed_at")


def _key_sql(column: str) -> str:
    """SQL computing the path key, the same as `store.rows.path_key` (SQLite: a function the engine registers)."""
    if op.get_bind().dialect.name == "postgresql":
        return f"encode(sha256(convert_to({column}, 'UTF8')), 'hex')"
    return f"ferry_path_key({column})"


def upgrade() -> None:
    op.create_table(
        "entries_new",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("executable", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("blocks", sa.Text, nullable=False),
        sa.Column("modified_by", sa.String(255), nullable=True),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "path_key", name="pk_entries"),
    )
    op.execute(f"INSERT INTO entries_new (path_key, {_ENTRY_COLUMNS}) "
               f"SELECT {_key_sql('path')}, {_ENTRY_COLUMNS} FROM entries")
    op.drop_table("entries")
    op.rename_table("entries_new", "entries")
    op.create_index("ix_entries_user_seq", "entries", ["user_id", "seq"])
    op.create_index("ix_entries_user_file", "entries", ["user_id", "file_id"])

    op.drop_index("ix_revisions_user_path_rev", table_name="revisions")
    op.add_column("revisions", sa.Column("path_key", sa.String(64), nullable=True))
    op.execute(f"UPDATE revisions SET path_key = {_key_sql('path')}")
    with op.batch_alter_table("revisions") as batch:
        batch.alter_column("path_key", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_revisions_user_key_rev", "revisions", ["user_id", "path_key", "rev"])

    op.create_table(
        "block_marks",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_block_marks_at", "block_marks", ["at"])


def downgrade() -> None:
    raise NotImplementedError("downgrading below 0002 is not supported: restore a backup instead")
