"""campaigns and messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smscast.db.types import Money, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("tracking_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(30), nullable=True),
        sa.Column("name_key", sa.String(30), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("scheduled_date", UtcDateTime(), nullable=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=False),
        sa.Column("total_messages", sa.Integer(), nullable=False),
        sa.Column("cost", Money(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_version", sa.Integer(), nullable=True),
        sa.Column("started_definition", sa.Text(), nullable=True),
        sa.Column("failure_reason", sa.String(500), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("reminder_before_at", UtcDateTime(), nullable=True),
        sa.Column("reminder_after_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_campaigns_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_campaigns_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("tracking_id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("account_id", "name_key", name="uq_campaigns_account_name_key"),
    )
    op.create_index("ix_campaigns_state_scheduled", "campaigns", ["state", "scheduled_date"])
    op.create_index("ix_campaigns_account_created", "campaigns", ["account_id", "created_at"])
    op.create_table(
        "messages",
        sa.Column("sms_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("campaign_id", sa.String(36), nullable=True),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(20), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("label", sa.String(20), nullable=True),
        sa.Column("flash", sa.Boolean(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=True),
        sa.Column("callback", sa.Text(), nullable=True),
        sa.Column("quiet_hours", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("detailed_status", sa.String(30), nullable=True),
        sa.Column("status_date", UtcDateTime(), nullable=False),
        sa.Column("price", Money(), nullable=True),
        sa.Column("carrier_message_id", sa.String(64), nullable=True),
        sa.Column("not_before", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_messages_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.tracking_id"], name=op.f("fk_messages_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("sms_id", name=op.f("pk_messages")),
    )
    op.create_index(op.f("ix_messages_message_id"), "messages", ["message_id"])
    op.create_index(op.f("ix_messages_carrier_message_id"), "messages", ["carrier_message_id"])
    op.create_index("ix_messages_campaign_status", "messages", ["campaign_id", "status"])
    op.create_index("ix_messages_dispatch", "messages", ["status", "not_before"])
    op.create_index("ix_messages_account_created", "messages", ["account_id", "created_at"])
    op.create_table(
        "receipt_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("carrier_message_id", sa.String(64), nullable=False),
        sa.Column("stat", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_inbox")),
    )
    op.create_index(op.f("ix_receipt_inbox_carrier_message_id"), "receipt_inbox", ["carrier_message_id"])


def downgrade() -> None:
    op.drop_table("receipt_inbox")
    op.drop_table("messages")
    op.drop_table("campaigns")
