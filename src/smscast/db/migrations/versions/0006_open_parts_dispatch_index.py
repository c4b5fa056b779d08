"""PostgreSQL: ix_messages_dispatch holds only open parts (Queued, Sent)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A part's final version (Delivered, Undelivered, Failed, Unsent) is written with no entry in it: one
    # index entry fewer per message, and an index the size of the open parts, not of the whole history.
    # Its readers (the claim, expire_unconfirmed) ask for Queued or Sent parts. SQLite keeps the full
    # index: its planner does not prove ``status = 'Queued'`` implies ``status IN ('Queued', 'Sent')``.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_dispatch")
        op.execute(
            "CREATE INDEX ix_messages_dispatch ON messages (status, not_before)"
            " WHERE status IN ('Queued', 'Sent')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_dispatch")
        op.execute("CREATE INDEX ix_messages_dispatch ON messages (status, not_before)")
