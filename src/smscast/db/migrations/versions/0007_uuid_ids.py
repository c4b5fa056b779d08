"""PostgreSQL: ids are uuid columns, not varchar(36)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Every column that holds a UUID (docs/adr/0008). Contact ids (24 hex digits) and references stay text.
ID_COLUMNS = {
    "accounts": ("id",),
    "applications": ("id", "account_id"),
    "tokens": ("application_id", "account_id"),
    "transactions": ("id", "account_id"),
    "contacts": ("account_id",),
    "label_definitions": ("account_id",),
    "groups": ("account_id",),
    "campaigns": ("tracking_id", "account_id", "application_id"),
    "messages": ("sms_id", "message_id", "account_id", "application_id", "campaign_id"),
    "callback_outbox": ("account_id", "application_id"),
}


def upgrade() -> None:
    # Each table is rewritten once, with its indexes: stop every smscast process first (CHANGELOG).
    # A value that is not a UUID's text fails the migration, changing nothing.
    _retype("uuid USING {column}::uuid")


def downgrade() -> None:
    _retype("varchar(36) USING {column}::text")


def _retype(target: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite keeps VARCHAR(36): it compares text as bytes already, and has no uuid type
    # The foreign keys to an id go while both ends change type, and come back as they were.
    foreign_keys = bind.execute(
        sa.text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
            " AND confrelid::regclass::text IN ('accounts', 'applications') ORDER BY 1, 2"
        )
    ).all()
    for table, name, _definition in foreign_keys:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, columns in ID_COLUMNS.items():
        changes = ", ".join(
            f'ALTER COLUMN "{column}" TYPE {target.format(column=column)}' for column in columns
        )
        op.execute(f'ALTER TABLE "{table}" {changes}')
    for table, name, definition in foreign_keys:
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
