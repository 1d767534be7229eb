"""The web app: server-side browser sessions, per-user quotas and the admin flag.

`web_sessions` holds one row per signed-in browser, keyed by the SHA-256 of its session token (the token itself
lives only in the browser's HttpOnly cookie), so that several server processes on one PostgreSQL database share
sessions. `users.quota_bytes` (NULL: unlimited) caps the bytes of a user's live files; `users.is_admin` lets a user
open the web app's admin page.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite batch mode copies `users` and drops the old table, and that
    # DROP cascades (foreign keys are on) to every user's entries, revisions, blocks and devices.
    op.add_column("users", sa.Column("quota_bytes", sa.BigInteger, nullable=True))
    op.add_column("users", sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_expires", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_column("users", "is_admin")  # ALTER TABLE DROP COLUMN (SQLite ≥ 3.35): no table copy, no cascade
    op.drop_column("users", "quota_bytes")
