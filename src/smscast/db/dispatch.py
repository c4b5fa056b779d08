"""The message queue: claim parts with a lease, hold, charge, record carrier results, apply receipts.

A claim is one statement, ``WITH picked AS (SELECT … FOR UPDATE SKIP LOCKED) UPDATE … RETURNING …``:
on PostgreSQL concurrent dispatchers skip each other's rows; on SQLite the single writer gives the same
safety (SQLAlchemy drops the lock clause). A part whose lease runs out before its result is recorded goes
back to ``Queued`` (``release_expired_leases``); its ``price`` stays set, so it is never charged twice.

The statements run per part (record, price, receipts) go to the driver's ``executemany`` as plain tuples:
at thousands of parts per second, SQLAlchemy's per-row parameter processing was most of their cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from smscast.db.messages import PART_BODY
from smscast.db.schema import messages, receipt_inbox
from smscast.domain.statuses import FINAL_VALUES, SENDING, MessageStatus


@dataclass(frozen=True, slots=True)
class ClaimedPart:
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
    flash: bool
    quiet_hours: bool
    expires_at: datetime | None
    created_at: datetime
    price: Decimal | None
    attempts: int
    has_callback: bool

    def with_price(self, price: Decimal | None) -> ClaimedPart:
        """This part with ``price`` (a few times cheaper than ``dataclasses.replace``)."""
        if price == self.price:
            return self
        return ClaimedPart(
            self.sms_id,
            self.message_id,
            self.account_id,
            self.campaign_id,
            self.part,
            self.parts,
            self.to,
            self.sender,
            self.country,
            self.body,
            self.flash,
            self.quiet_hours,
            self.expires_at,
            self.created_at,
            price,
            self.attempts,
            self.has_callback,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    carrier_message_id: str
    stat: str
    error_code: str | None


@dataclass(frozen=True, slots=True)
class ReceiptMatch:
    inbox_id: int
    sms_id: str
    status: str
    stat: str
    error_code: str | None
    has_callback: bool


_CLAIM_COLUMNS = (
    messages.c.sms_id,
    messages.c.message_id,
    messages.c.account_id,
    messages.c.campaign_id,
    messages.c.part,
    messages.c.parts,
    messages.c.to,
    messages.c.sender,
    messages.c.country,
    PART_BODY,
    messages.c.flash,
    messages.c.quiet_hours,
    messages.c.expires_at,
    messages.c.created_at,
    messages.c.price,
    messages.c.attempts,
    messages.c.callback.is_not(None),
)


# Literal SQL constants, not parameters: executemany() cannot expand an IN list per row.
_NOT_FINAL = sa.and_(
    *(messages.c.status != sa.literal_column(f"'{value}'") for value in sorted(FINAL_VALUES))
)
_NOT_FINAL_SQL = " AND ".join(f"status <> '{value}'" for value in sorted(FINAL_VALUES))


@cache
def _binder(dialect: Dialect, table: str, column: str) -> Callable[[Any], Any]:
    """How a value of ``table.column`` is handed to the driver (the column type's bind processing)."""
    col = (messages if table == "messages" else receipt_inbox).c[column]
    process = col.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def _driver_sql(dialect: Dialect, sql: str) -> str:
    """``sql`` written with ``?`` markers, in the driver's own parameter style."""
    return sql if dialect.paramstyle == "qmark" else sql.replace("?", "%s")


class DispatchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[ClaimedPart]:
        """Lease up to ``limit`` due ``Queued`` parts to the caller (status ``Sending``).

        One statement: ``WITH picked AS MATERIALIZED (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE …
        FROM picked … RETURNING``. The CTE is evaluated once (an ``UPDATE … WHERE id IN (SELECT … LIMIT n
        FOR UPDATE SKIP LOCKED)`` can update more than n rows on PostgreSQL when the planner re-runs the
        subquery), locks the rows it picks and skips rows another dispatcher holds.
        """
        rows = self.conn.execute(_claim_statement(), {"c_now": now, "c_limit": limit, "c_lease": lease_until})
        return [ClaimedPart(*row) for row in rows]

    def release_expired_leases(self, now: datetime) -> int:
        """Parts whose dispatcher died mid-flight go back to the queue."""
        return self.conn.execute(
            messages.update()
            .where(messages.c.status == SENDING, messages.c.lease_until < now)
            .values(status=MessageStatus.QUEUED.value, lease_until=None)
        ).rowcount

    def renew_leases(self, sms_ids: Sequence[str], lease_until: datetime) -> None:
        """Extend the lease of parts still being sent (not yet recorded) to ``lease_until``."""
        if sms_ids:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id.in_(sms_ids), messages.c.status == SENDING)
                .values(lease_until=lease_until)
            )

    def hold(self, items: Sequence[tuple[str, datetime]]) -> None:
        """Put parts back in the queue until ``not_before`` (quiet hours), marking them held."""
        if items:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"), messages.c.status == SENDING)
                .values(
                    status=MessageStatus.QUEUED.value,
                    not_before=sa.bindparam("p_not_before"),
                    held=True,
                    lease_until=None,
                ),
                [{"p_sms_id": sms_id, "p_not_before": when} for sms_id, when in items],
            )

    def set_prices(self, items: Sequence[tuple[str, Decimal]]) -> None:
        if items:
            money = _binder(self.conn.dialect, "messages", "price")
            self.conn.exec_driver_sql(
                _driver_sql(self.conn.dialect, "UPDATE messages SET price = ? WHERE sms_id = ?"),
                [(money(price), sms_id) for sms_id, price in items],
            )

    def finish(self, items: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Give parts a final status (``status``, ``detailed_status``) from ``Sending``."""
        if items:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"), messages.c.status == SENDING)
                .values(
                    status=sa.bindparam("p_status"),
                    detailed_status=sa.bindparam("p_detailed"),
                    status_date=now,
                    lease_until=None,
                ),
                [{"p_sms_id": s, "p_status": st, "p_detailed": d} for s, st, d in items],
            )

    def requeue(self, sms_ids: Sequence[str], not_before: datetime) -> None:
        """Back to the queue after a transient carrier failure (keeps the price: no second charge)."""
        if sms_ids:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id.in_(sms_ids), messages.c.status == SENDING)
                .values(status=MessageStatus.QUEUED.value, not_before=not_before, lease_until=None)
            )

    def record_sent(self, items: Sequence[tuple[str, str]], now: datetime) -> None:
        """Parts the carrier accepted: ``Sent`` with the carrier's id."""
        if items:
            at = _binder(self.conn.dialect, "messages", "status_date")(now)
            self.conn.exec_driver_sql(
                _driver_sql(
                    self.conn.dialect,
                    "UPDATE messages SET status = 'Sent', detailed_status = 'Sent', carrier_message_id = ?,"
                    " status_date = ?, submitted_at = ?, lease_until = NULL"
                    f" WHERE sms_id = ? AND status = '{SENDING}'",
                ),
                [(carrier_id, at, at, sms_id) for sms_id, carrier_id in items],
            )

    def expire_unconfirmed(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> list[tuple[str, bool]]:
        """Parts ``Sent`` before ``submitted_before`` whose receipt never came: final ``Undelivered`` with
        detailed status ``Unknown Status``. Returns ``(sms_id, has_callback)`` of those changed."""
        picked = list(
            self.conn.execute(
                sa.select(messages.c.sms_id)
                .where(
                    messages.c.status == MessageStatus.SENT.value, messages.c.submitted_at < submitted_before
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not picked:
            return []
        rows = self.conn.execute(
            messages.update()
            .where(messages.c.sms_id.in_(picked), messages.c.status == MessageStatus.SENT.value)
            .values(status=MessageStatus.UNDELIVERED.value, detailed_status="Unknown Status", status_date=now)
            .returning(messages.c.sms_id, messages.c.callback.is_not(None))
        ).all()
        return [(sms_id, bool(has_callback)) for sms_id, has_callback in rows]

    def add_receipts(self, receipts: Sequence[Receipt], now: datetime) -> None:
        if receipts:
            at = _binder(self.conn.dialect, "receipt_inbox", "received_at")(now)
            self.conn.exec_driver_sql(
                _driver_sql(
                    self.conn.dialect,
                    "INSERT INTO receipt_inbox (carrier_message_id, stat, error_code, received_at)"
                    " VALUES (?, ?, ?, ?)",
                ),
                [
                    (r.carrier_message_id, r.stat[:16], (r.error_code or None) and r.error_code[:16], at)
                    for r in receipts
                ],
            )

    def inbox_is_empty(self) -> bool:
        return self.conn.exec_driver_sql("SELECT 1 FROM receipt_inbox LIMIT 1").first() is None

    def parts_by_carrier_ids(self, carrier_ids: Sequence[str]) -> dict[str, tuple[str, str, bool]]:
        """carrier message id → (sms_id, status, has_callback), for the ids that belong to a part."""
        found: dict[str, tuple[str, str, bool]] = {}
        unique = list(dict.fromkeys(carrier_ids))
        for start in range(0, len(unique), 2000):
            chunk = unique[start : start + 2000]
            markers = ", ".join(["?"] * len(chunk))
            rows = self.conn.exec_driver_sql(
                _driver_sql(
                    self.conn.dialect,
                    "SELECT carrier_message_id, sms_id, status, callback IS NOT NULL FROM messages"
                    f" WHERE carrier_message_id IN ({markers}) AND carrier_message_id IS NOT NULL",
                ),
                tuple(chunk),
            )
            for carrier_id, sms_id, status, has_callback in rows:
                found[carrier_id] = (sms_id, status, bool(has_callback))
        return found

    def matched_receipts(self, limit: int) -> list[ReceiptMatch]:
        rows = self.conn.execute(
            sa.select(
                receipt_inbox.c.id,
                messages.c.sms_id,
                messages.c.status,
                receipt_inbox.c.stat,
                receipt_inbox.c.error_code,
                messages.c.callback.is_not(None),
            )
            .join(messages, messages.c.carrier_message_id == receipt_inbox.c.carrier_message_id)
            .order_by(receipt_inbox.c.id)
            .limit(limit)
        ).all()
        return [ReceiptMatch(*row) for row in rows]

    def apply_statuses(self, items: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Receipt results: only a part that is not final yet moves (statuses only move forward)."""
        if items:
            at = _binder(self.conn.dialect, "messages", "status_date")(now)
            self.conn.exec_driver_sql(
                _driver_sql(
                    self.conn.dialect,
                    "UPDATE messages SET status = ?, detailed_status = ?, status_date = ?, delivered_at = ?"
                    f" WHERE sms_id = ? AND {_NOT_FINAL_SQL}",
                ),
                [(status, detailed, at, at, sms_id) for sms_id, status, detailed in items],
            )

    def delete_receipts(self, inbox_ids: Sequence[int]) -> None:
        if inbox_ids:
            self.conn.exec_driver_sql(
                _driver_sql(self.conn.dialect, "DELETE FROM receipt_inbox WHERE id = ?"),
                [(inbox_id,) for inbox_id in inbox_ids],
            )


@cache
def _claim_statement() -> sa.Update:
    picked = (
        sa.select(messages.c.sms_id)
        .where(
            messages.c.status == MessageStatus.QUEUED.value,
            messages.c.not_before <= sa.bindparam("c_now", type_=messages.c.not_before.type),
        )
        .order_by(messages.c.not_before)
        .limit(sa.bindparam("c_limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        messages.update()
        .where(messages.c.sms_id == picked.c.sms_id, messages.c.status == MessageStatus.QUEUED.value)
        .values(
            status=SENDING,
            lease_until=sa.bindparam("c_lease", type_=messages.c.lease_until.type),
            attempts=messages.c.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
    )
