"""The message queue: claim parts with a lease, hold, charge, record carrier results, apply receipts.

A claim is one statement, ``UPDATE … WHERE sms_id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …``:
on PostgreSQL concurrent dispatchers skip each other's rows; on SQLite the single writer gives the same
safety (SQLAlchemy drops the lock clause). A part whose lease runs out before its result is recorded goes
back to ``Queued`` (``release_expired_leases``); its ``price`` stays set, so it is never charged twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
    messages.c.body,
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


class DispatchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[ClaimedPart]:
        """Lease up to ``limit`` due ``Queued`` parts to the caller (status ``Sending``).

        Two statements in one transaction: the SELECT locks the rows it picks (skipping rows another
        dispatcher holds), the UPDATE changes exactly those. (One ``UPDATE … WHERE id IN (SELECT … LIMIT n
        FOR UPDATE SKIP LOCKED)`` can update more than n rows on PostgreSQL when the planner re-runs the
        subquery.)
        """
        picked = list(
            self.conn.execute(
                sa.select(messages.c.sms_id)
                .where(messages.c.status == MessageStatus.QUEUED.value, messages.c.not_before <= now)
                .order_by(messages.c.not_before)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not picked:
            return []
        rows = self.conn.execute(
            messages.update()
            .where(messages.c.sms_id.in_(picked), messages.c.status == MessageStatus.QUEUED.value)
            .values(status=SENDING, lease_until=lease_until, attempts=messages.c.attempts + 1)
            .returning(*_CLAIM_COLUMNS)
        ).all()
        return [ClaimedPart(*row) for row in rows]

    def release_expired_leases(self, now: datetime) -> int:
        """Parts whose dispatcher died mid-flight go back to the queue."""
        return self.conn.execute(
            messages.update()
            .where(messages.c.status == SENDING, messages.c.lease_until < now)
            .values(status=MessageStatus.QUEUED.value, lease_until=None)
        ).rowcount

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
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"))
                .values(price=sa.bindparam("p_price")),
                [{"p_sms_id": sms_id, "p_price": price} for sms_id, price in items],
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
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"), messages.c.status == SENDING)
                .values(
                    status=MessageStatus.SENT.value,
                    detailed_status="Sent",
                    carrier_message_id=sa.bindparam("p_carrier_id"),
                    status_date=now,
                    submitted_at=now,
                    lease_until=None,
                ),
                [{"p_sms_id": sms_id, "p_carrier_id": carrier_id} for sms_id, carrier_id in items],
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
            self.conn.execute(
                receipt_inbox.insert(),
                [
                    {
                        "carrier_message_id": r.carrier_message_id,
                        "stat": r.stat[:16],
                        "error_code": (r.error_code or None) and r.error_code[:16],
                        "received_at": now,
                    }
                    for r in receipts
                ],
            )

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
            self.conn.execute(
                messages.update()
                .where(
                    messages.c.sms_id == sa.bindparam("p_sms_id"),
                    _NOT_FINAL,
                )
                .values(
                    status=sa.bindparam("p_status"),
                    detailed_status=sa.bindparam("p_detailed"),
                    status_date=now,
                    delivered_at=now,
                ),
                [{"p_sms_id": s, "p_status": st, "p_detailed": d} for s, st, d in items],
            )

    def delete_receipts(self, inbox_ids: Sequence[int]) -> None:
        if inbox_ids:
            self.conn.execute(receipt_inbox.delete().where(receipt_inbox.c.id.in_(inbox_ids)))
