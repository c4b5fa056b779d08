"""performance: expansion checkpoint, campaign body stored once, partial carrier-id index, no FKs on messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smscast.db.schema import NAMING_CONVENTION

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CARRIER_INDEX = "ix_messages_carrier_message_id"
_NOT_NULL = sa.text("carrier_message_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        # Where an interrupted expansion resumes (JSON), written with each batch of message rows.
        batch.add_column(sa.Column("expansion_checkpoint", sa.Text(), nullable=True))
        # The final text of a campaign whose body is not personalised: its parts store NULL instead.
        batch.add_column(sa.Column("message_body", sa.Text(), nullable=True))
    # The naming convention names SQLite's (reflected, unnamed) foreign keys so they can be dropped.
    with op.batch_alter_table("messages", naming_convention=NAMING_CONVENTION) as batch:
        batch.alter_column("body", existing_type=sa.Text(), nullable=True)
        # Checked per row, they made up a third of the cost of writing parts (PostgreSQL runs a trigger
        # and a key lookup per row, even inside COPY). Only the engine writes parts, with the ids of the
        # account and campaign it just read; neither is ever deleted. docs/adr/0004.
        batch.drop_constraint("fk_messages_account_id_accounts", type_="foreignkey")
        batch.drop_constraint("fk_messages_campaign_id_campaigns", type_="foreignkey")
    # Parts get their carrier id only once submitted: index only those (writes of new parts skip it).
    op.drop_index(_CARRIER_INDEX, table_name="messages")
    op.create_index(
        _CARRIER_INDEX,
        "messages",
        ["carrier_message_id"],
        postgresql_where=_NOT_NULL,
        sqlite_where=_NOT_NULL,
    )


def downgrade() -> None:
    op.drop_index(_CARRIER_INDEX, table_name="messages")
    op.create_index(_CARRIER_INDEX, "messages", ["carrier_message_id"])
    op.execute(
        "UPDATE messages SET body = (SELECT c.message_body FROM campaigns c"
        " WHERE c.tracking_id = messages.campaign_id) WHERE body IS NULL"
    )
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch.create_foreign_key("fk_messages_account_id_accounts", "accounts", ["account_id"], ["id"])
        batch.create_foreign_key(
            "fk_messages_campaign_id_campaigns", "campaigns", ["campaign_id"], ["tracking_id"]
        )
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("message_body")
        batch.drop_column("expansion_checkpoint")
