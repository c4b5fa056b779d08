"""callbacks: outbox, signing keys, campaign progress steps

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smscast.db.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("signing_key", sa.String(64), nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("callback_progress", sa.Text(), nullable=True))
    op.create_table(
        "callback_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_outbox")),
    )
    op.create_index("ix_callback_outbox_due", "callback_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("callback_outbox")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("callback_progress")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("signing_key")
