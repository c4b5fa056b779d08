"""Receipts that never match a part are dropped after the retention, others are kept."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.receipts import Receipt, ReceiptRepository
from smscast.db.schema import receipt_inbox


def test_old_unmatched_receipts_are_purged(isolated: tuple[Container, TestClient]) -> None:
    container, _ = isolated
    now = container.clock.now()
    with container.db.write() as conn:
        repo = ReceiptRepository(conn)
        repo.add_receipts([Receipt("old-orphan", "DELIVRD", None)], now - timedelta(days=2))
        repo.add_receipts([Receipt("recent", "DELIVRD", None)], now)
    assert container.dispatch.purge_unmatched_receipts() == 1
    with container.db.read() as conn:
        left = [r.carrier_message_id for r in conn.execute(receipt_inbox.select())]
    assert left == ["recent"]
