"""Login throttling state shared by every server process, and device tokens that can expire and be renewed.

`login_failures` counts recent failed logins per account and per client address (keys "user:NAME" and
"addr:ADDRESS"), so several processes on one PostgreSQL database throttle together. `devices.token_issued_at` is
when the current token was issued (NULL: at `created_at`); a token expires `--token-ttl-days` after it. A renewal
keeps the previous token's hash for a short grace (`prev_token_hash`, `prev_token_until`), so a device that lost
the answer (or could not store the new token) is not locked out.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_last", "login_failures", ["last_failure"])
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("token_issued_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("prev_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("prev_token_until", sa.BigInteger, nullable=True))
    op.create_index("ix_devices_prev_token", "devices", ["prev_token_hash"])


def downgrade() -> None:
    op.drop_index("ix_devices_prev_token", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("prev_token_until")
        batch.drop_column("prev_token_hash")
        batch.drop_column("token_issued_at")
    op.drop_index("ix_login_failures_last", table_name="login_failures")
    op.drop_table("login_failures")
