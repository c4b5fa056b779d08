"""Parts whose receipt never comes end ``Undelivered`` (detailed ``Unknown Status``) once
``receipt_timeout`` has passed since their submit, not before, and only those still ``Sent``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from smscast.carriers.base import DeliveryReport, SubmitResult
from smscast.db.schema import messages
from smscast.domain.clock import FixedClock
from tests.conftest import app_over, new_tenant

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NUMBERS = ["+306948710001", "+306948710002", "+306948710003"]


def test_parts_without_a_receipt_end_after_the_timeout_and_only_they(isolated_database_url: str) -> None:
    clock = FixedClock(START)
    with app_over(isolated_database_url, clock) as (container, http):
        tenant = new_tenant(container, http)
        created = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS})
        assert created.status_code == 200, created.text
        container.starter.start_due()
        while container.starter.expand_next():
            pass
        clock.set(START + timedelta(minutes=10))  # submitted well after the parts were written
        parts = container.dispatch.claim(10)
        assert len(parts) == 3
        container.dispatch.record([(part, SubmitResult(f"c-{part.sms_id}")) for part in parts])
        delivered = parts[0]
        container.dispatch.store_receipts([DeliveryReport(f"c-{delivered.sms_id}", "DELIVRD")])
        timeout = container.dispatch.settings.receipt_timeout

        clock.set(START + timedelta(minutes=10) + timeout - timedelta(seconds=1))
        assert container.dispatch.expire_missing_receipts() == 0
        clock.set(START + timedelta(minutes=10) + timeout + timedelta(seconds=1))
        assert container.dispatch.expire_missing_receipts() == 2
        assert container.dispatch.expire_missing_receipts() == 0

        with container.db.read() as conn:
            rows = conn.execute(sa.select(messages.c.sms_id, messages.c.status, messages.c.detailed_status))
            ended = {sms_id: (status, detailed) for sms_id, status, detailed in rows}
        assert ended == {
            delivered.sms_id: ("Delivered", "Delivered"),
            **{part.sms_id: ("Undelivered", "Unknown Status") for part in parts[1:]},
        }
