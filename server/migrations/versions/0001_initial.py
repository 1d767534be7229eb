"""The schema as first shipped (created by `metadata.create_all` before migrations existed).

Data directories made before Alembic have exactly these tables and are stamped at this revision, not re-created.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pruned_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_devices_user", "devices", ["user_id"])
    op.create_table(
        "entries",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        *_content_columns(),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_entries_user_seq", "entries", ["user_id", "seq"])
    op.create_index("ix_entries_user_file", "entries", ["user_id", "file_id"])
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("rev", sa.BigInteger, nullable=False),
        *_content_columns(),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("superseded_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_revisions_user_path_rev", "revisions", ["user_id", "path", "rev"])
    op.create_index("ix_revisions_superseded", "revisions", ["superseded_at"])
    op.create_table(
        "user_blocks",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_user_blocks_hash", "user_blocks", ["hash"])


def _content_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("executable", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("blocks", sa.Text, nullable=False),
        sa.Column("modified_by", sa.String(255), nullable=True),
    ]


def downgrade() -> None:
    for table in ("user_blocks", "revisions", "entries", "devices", "users"):
        op.drop_table(table)
