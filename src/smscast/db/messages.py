"""Message parts: the queue and the tracking record. One row per part; ``message_id`` joins the parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

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


#: The columns in which the parts of one campaign differ, in the order `CampaignPartWriter` takes them.
PART_COLUMNS = ("sms_id", "message_id", "part", "parts", "to", "country", "body", "groups")
PartValues = tuple[str, str, int, int, str, str, str, str | None]


class CampaignPartWriter:
    """Inserts many parts of one campaign fast (campaign expansion: up to millions of rows).

    The values every part shares (account, campaign, sender, status, dates, …) are converted by their column
    types once; each row brings only the ``PART_COLUMNS`` values, as a plain tuple, and the rows go to the
    driver's ``executemany`` as they are (no per-row dictionaries or type processing). Rows whose ``sms_id``
    exists already are skipped (``ON CONFLICT DO NOTHING``), so an interrupted expansion can simply run
    again.
    """

    def __init__(self, dialect: Dialect, shared: Mapping[str, Any]) -> None:
        unknown = set(shared) - set(messages.c.keys()) | set(shared) & set(PART_COLUMNS)
        if unknown:
            raise ValueError(f"not shared columns of messages: {sorted(unknown)}")
        values: list[Any] = []
        for name, value in shared.items():
            process = messages.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            values.append(process(value) if process is not None else value)
        self._shared = tuple(values)
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in (*PART_COLUMNS, *shared))
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        markers = ", ".join([marker] * (len(PART_COLUMNS) + len(shared)))
        self._sql = f"INSERT INTO messages ({names}) VALUES ({markers}) ON CONFLICT (sms_id) DO NOTHING"

    def insert(self, conn: Connection, rows: Sequence[PartValues]) -> None:
        if rows:
            shared = self._shared
            conn.exec_driver_sql(self._sql, [row + shared for row in rows])
