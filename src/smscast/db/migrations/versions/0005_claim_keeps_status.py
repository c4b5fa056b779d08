"""a claimed part stays Queued: its lease alone marks it taken (no more 'Sending')

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Parts a dispatcher held when the server stopped keep their lease: they are due again once it ends,
    # as 'Sending' parts were released then (docs/adr/0002).
    op.execute("UPDATE messages SET status = 'Queued' WHERE status = 'Sending'")
    if op.get_bind().dialect.name == "postgresql":
        # Room on every page for a new version of each of its rows: the claim writes each part of a page
        # in one transaction, and only a version that fits on its page is a HOT update (no index entries).
        # Pages written from now on; docs/adr/0007.
        op.execute("ALTER TABLE messages SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages RESET (fillfactor)")
    op.execute("UPDATE messages SET status = 'Sending' WHERE status = 'Queued' AND lease_until IS NOT NULL")
