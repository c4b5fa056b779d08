"""Message parts: the queue and the tracking record. One row per part; ``message_id`` joins the parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.schema import messages


@dataclass(frozen=True, slots=True)
class NewPart:
    sms_id: str
    message_id: str
    account_id: str
    application_id: str
    campaign_id: str | None
    part: int
    parts: int
    to: str
    sender: str
    country: str
    body: str
    label: str | None
    flash: bool
    groups: str | None
    callback: str | None
    status: str
    status_date: datetime
    not_before: datetime
    expires_at: datetime | None
    created_at: datetime
    quiet_hours: bool = False


@dataclass(frozen=True, slots=True)
class PartRow:
    sms_id: str
    message_id: str
    account_id: str
    campaign_id: str | None
    part: int
    parts: int
    to: str
    sender: str
    country: str
    body: str
    label: str | None
    flash: bool
    status: str
    detailed_status: str | None
    status_date: datetime
    price: Decimal | None


class MessageRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_many(self, parts: Sequence[NewPart]) -> None:
        if parts:
            self.conn.execute(messages.insert(), [asdict(p) for p in parts])

    def parts_of(self, account_id: str, message_id: str) -> list[PartRow]:
        rows = self.conn.execute(
            sa.select(messages)
            .where(messages.c.account_id == account_id, messages.c.message_id == message_id)
            .order_by(messages.c.part)
        ).all()
        return [
            PartRow(
                r.sms_id,
                r.message_id,
                r.account_id,
                r.campaign_id,
                r.part,
                r.parts,
                r.to,
                r.sender,
                r.country,
                r.body,
                r.label,
                bool(r.flash),
                r.status,
                r.detailed_status,
                r.status_date,
                r.price,
            )
            for r in rows
        ]


def insert_ignoring_duplicates(conn: Connection, parts: Sequence[NewPart]) -> None:
    """Insert parts whose ``sms_id`` is not there yet: re-running an interrupted expansion is harmless."""
    if not parts:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(messages).on_conflict_do_nothing(index_elements=["sms_id"]), [asdict(p) for p in parts]
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(
            sqlite_insert(messages).on_conflict_do_nothing(index_elements=["sms_id"]),
            [asdict(p) for p in parts],
        )
