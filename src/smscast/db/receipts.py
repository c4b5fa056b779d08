"""The receipt inbox: receipts (deliver_sm reports) wait here until their part's carrier id is recorded.

A receipt may arrive before smscast has recorded the carrier's answer to its part (the SMSC answers, then
reports at once), or carry a carrier id smscast never recorded (the first copy of a part resent after a
crash). Such receipts are stored here; ``matched_receipts`` finds those whose part is known by now, and
``purge_receipts`` forgets the others after the retention. Applying a receipt's status to its part is the
message queue's (``dispatch.DispatchRepository.apply_statuses``).

The inbox writes go to the driver's ``executemany`` as plain tuples, or one statement over arrays
(``unnest``) on PostgreSQL: see ``driver``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from smscast.db.driver import binder, driver_sql, is_postgres
from smscast.db.schema import receipt_inbox


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


class ReceiptRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._postgres = is_postgres(conn.dialect)

    def add_receipts(self, receipts: Sequence[Receipt], now: datetime) -> None:
        if receipts:
            at = binder(self.conn.dialect, "receipt_inbox", "received_at")(now)
            if self._postgres:
                self.conn.exec_driver_sql(
                    "INSERT INTO receipt_inbox (carrier_message_id, stat, error_code, received_at)"
                    " SELECT v.carrier_id, v.stat, v.error_code, %s"
                    " FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[])"
                    " AS v(carrier_id, stat, error_code)",
                    (
                        at,
                        [r.carrier_message_id for r in receipts],
                        [r.stat[:16] for r in receipts],
                        [(r.error_code or None) and r.error_code[:16] for r in receipts],
                    ),
                )
                return
            self.conn.exec_driver_sql(
                driver_sql(
                    self.conn.dialect,
                    "INSERT INTO receipt_inbox (carrier_message_id, stat, error_code, received_at)"
                    " VALUES (?, ?, ?, ?)",
                ),
                [
                    (r.carrier_message_id, r.stat[:16], (r.error_code or None) and r.error_code[:16], at)
                    for r in receipts
                ],
            )

    def purge_receipts(self, received_before: datetime) -> int:
        """Drop receipts that never matched a part (the first copy of a part resent after a crash carries
        a carrier id smscast never recorded); they would otherwise stay in the inbox for ever."""
        return self.conn.execute(
            receipt_inbox.delete().where(receipt_inbox.c.received_at < received_before)
        ).rowcount

    def inbox_is_empty(self) -> bool:
        return self.conn.exec_driver_sql("SELECT 1 FROM receipt_inbox LIMIT 1").first() is None

    def parts_by_carrier_ids(self, carrier_ids: Sequence[str]) -> dict[str, tuple[str, str, bool]]:
        """carrier message id → (sms_id, status, has_callback), for the ids that belong to a part."""
        found: dict[str, tuple[str, str, bool]] = {}
        unique = list(dict.fromkeys(carrier_ids))
        if self._postgres and unique:
            self._probe_by_index()
            rows = self.conn.exec_driver_sql(
                "SELECT carrier_message_id, sms_id, status, callback IS NOT NULL FROM messages"
                " WHERE carrier_message_id = ANY(%s::varchar[]) AND carrier_message_id IS NOT NULL",
                (unique,),
            )
            return {carrier_id: (sms_id, status, bool(hook)) for carrier_id, sms_id, status, hook in rows}
        for start in range(0, len(unique), 2000):
            chunk = unique[start : start + 2000]
            markers = ", ".join(["?"] * len(chunk))
            rows = self.conn.exec_driver_sql(
                driver_sql(
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
        """Inbox receipts whose part is known by now (oldest first), with the part's current status."""
        if self._postgres:
            self._probe_by_index()
        rows = self.conn.exec_driver_sql(
            driver_sql(
                self.conn.dialect,
                "SELECT r.id, m.sms_id, m.status, r.stat, r.error_code, m.callback IS NOT NULL"
                " FROM receipt_inbox r JOIN messages m ON m.carrier_message_id = r.carrier_message_id"
                " WHERE m.carrier_message_id IS NOT NULL ORDER BY r.id LIMIT ?",
            ),
            (limit,),
        )
        return [
            ReceiptMatch(inbox_id, sms_id, status, stat, error_code, bool(has_callback))
            for inbox_id, sms_id, status, stat, error_code, has_callback in rows
        ]

    def _probe_by_index(self) -> None:
        """For this transaction: look parts up through ix_messages_carrier_message_id. While a campaign is
        being sent the statistics lag behind, the planner expects few submitted parts and reads the whole
        table instead (10–25 ms a call at 30,000 parts, growing with the table, against well under 1 ms)."""
        self.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def delete_receipts(self, inbox_ids: Sequence[int]) -> None:
        if inbox_ids and self._postgres:
            self.conn.exec_driver_sql(
                "DELETE FROM receipt_inbox WHERE id = ANY(%s::integer[])", (list(inbox_ids),)
            )
        elif inbox_ids:
            self.conn.exec_driver_sql(
                driver_sql(self.conn.dialect, "DELETE FROM receipt_inbox WHERE id = ?"),
                [(inbox_id,) for inbox_id in inbox_ids],
            )
