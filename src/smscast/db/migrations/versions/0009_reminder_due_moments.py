"""Campaign reminders: when each is due, in columns of its own

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The scheduler used to find reminders by reading every campaign's definition (``LIKE '%"reminder"%'``)
    # on each tick, and a campaign with a reminder before the send but none after stayed a candidate for
    # ever: with 50 of them, the limit of 50 left every other campaign's reminders unsent.
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("reminder_before_due", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reminder_after_due", sa.DateTime(timezone=True), nullable=True))
    for which in ("before", "after"):
        not_sent = sa.text(f"reminder_{which}_at IS NULL")
        op.create_index(
            f"ix_campaigns_reminder_{which}_due",
            "campaigns",
            [f"reminder_{which}_due"],
            postgresql_where=not_sent,
            sqlite_where=not_sent,
        )
    # The moments of the campaigns that have a reminder, from their definition and scheduled date
    # (domain.campaigns.Reminder.moments).
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    rows = conn.execute(
        sa.text(
            "SELECT tracking_id, scheduled_date, definition FROM campaigns"
            " WHERE scheduled_date IS NOT NULL AND definition LIKE '%\"reminder\"%'"
        )
    ).all()
    for tracking_id, scheduled, definition in rows:
        reminder = json.loads(definition).get("reminder")
        if not isinstance(reminder, dict):
            continue
        if isinstance(scheduled, str):  # SQLite: naive UTC text
            scheduled = datetime.fromisoformat(scheduled)
        if scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=UTC)
        moments = {
            "before": _moment(scheduled, -1, reminder.get("minutesBefore")),
            "after": _moment(scheduled, 1, reminder.get("minutesAfter")),
        }
        if sqlite:
            moments = {k: None if v is None else v.replace(tzinfo=None) for k, v in moments.items()}
        conn.execute(
            sa.text(
                "UPDATE campaigns SET reminder_before_due = :before, reminder_after_due = :after"
                " WHERE tracking_id = :id"
            ).bindparams(
                # Written as the code writes them (SQLite: the same text form, so that they compare).
                sa.bindparam("before", type_=sa.DateTime(timezone=True)),
                sa.bindparam("after", type_=sa.DateTime(timezone=True)),
            ),
            {**moments, "id": tracking_id},
        )


def _moment(scheduled: datetime, sign: int, minutes: object) -> datetime | None:
    return scheduled + timedelta(minutes=sign * minutes) if isinstance(minutes, int) else None


def downgrade() -> None:
    for which in ("after", "before"):
        op.drop_index(f"ix_campaigns_reminder_{which}_due", "campaigns")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("reminder_after_due")
        batch.drop_column("reminder_before_due")
