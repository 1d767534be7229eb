"""Share links: `share_links` (a file or folder readable through an unguessable token, only its hash stored) and
`share_hits` (the fixed-window counters that rate-limit downloads and password attempts through links, shared by
every server process on one database).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("grant_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("downloads", sa.BigInteger, nullable=False),
        sa.Column("last_download_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_share_links_user", "share_links", ["user_id"])
    op.create_table(
        "share_hits",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("ix_share_hits_window", "share_hits", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_share_hits_window", table_name="share_hits")
    op.drop_table("share_hits")
    op.drop_index("ix_share_links_user", table_name="share_links")
    op.drop_table("share_links")
