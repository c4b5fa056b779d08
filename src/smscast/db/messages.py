"""Message parts: the queue and the tracking record. One row per part; ``message_id`` joins the parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from smscast.db.driver import driver_cursor
from smscast.db.schema import campaigns, messages

#: A part's text: its own ``body``, or (NULL: a campaign whose body is not personalised) the campaign's
#: ``message_body``, stored once instead of on each of its parts.
PART_BODY: sa.ColumnElement[str] = sa.func.coalesce(
    messages.c.body,
    sa.select(campaigns.c.message_body)
    .where(campaigns.c.tracking_id == messages.c.campaign_id)
    .scalar_subquery(),
).label("body")


def part_body_joined() -> sa.ColumnElement[str]:
    """``PART_BODY`` for a query that already joins ``campaigns`` on the part's campaign."""
    return sa.func.coalesce(messages.c.body, campaigns.c.message_body).label("body")


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
            sa.select(*(c for c in messages.c if c.name != "body"), PART_BODY)
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
PartValues = tuple[str, str, int, int, str, str, str | None, str | None]


class CampaignPartWriter:
    """Inserts many parts of one campaign fast (campaign expansion: up to millions of rows).

    The values every part shares (account, campaign, sender, status, dates, …) are converted once; each row
    brings only the ``PART_COLUMNS`` values, as a plain tuple. On SQLite the rows go to the driver's
    ``executemany`` as they are (no per-row dictionaries or type processing); on PostgreSQL they are
    streamed as ``COPY … FROM STDIN`` text built here. The caller guarantees new ids (the expansion's
    checkpoint means no part is written twice).
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
        self._copy: str | None = None
        if dialect.name == "postgresql":
            self._copy = f"COPY messages ({names}) FROM STDIN"
            self._copy_suffix = "\t".join(_copy_text(v) for v in values) + "\n"
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        markers = ", ".join([marker] * (len(PART_COLUMNS) + len(shared)))
        self._sql = f"INSERT INTO messages ({names}) VALUES ({markers})"

    def insert(self, conn: Connection, rows: Sequence[PartValues], *, durable: bool = False) -> None:
        """Insert ``rows``; ``durable``: on PostgreSQL the transaction's commit waits for the WAL flush
        (parts written kept may be sent at once: services/kept_parts.py)."""
        if not rows:
            return
        if self._copy is None:
            shared = self._shared
            conn.exec_driver_sql(self._sql, [row + shared for row in rows])
            return
        suffix = self._copy_suffix
        text = "".join(
            f"{sms_id}\t{message_id}\t{part}\t{parts}\t{_copy_text(to)}\t{_copy_text(country)}\t"
            f"{_copy_text(body)}\t{_copy_text(groups)}\t{suffix}"
            for sms_id, message_id, part, parts, to, country, body, groups in rows
        )
        with driver_cursor(conn) as cursor:  # psycopg's, in this transaction
            if not durable:
                # The expansion commits each batch with its checkpoint: a batch lost to a server crash is
                # written again on resume, so its commit need not wait for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            with cursor.copy(self._copy) as copy:
                copy.write(text)


# COPY's text format: \N is NULL; backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)
