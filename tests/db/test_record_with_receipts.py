"""``DispatchService.record`` with the receipts that arrived before the write (engine/runner.py hands them
over): a part without a callback goes from ``Queued`` (leased) to the receipt's status in one update, a
part with a callback goes through ``Sent`` (its OnChange receiver hears both), repeated receipts keep the rule
"statuses only move forward", and a receipt for a part not in the write waits in the inbox."""

from __future__ import annotations

import json

import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.base import DeliveryReport, SubmitResult
from smscast.db.schema import callback_outbox, messages, receipt_inbox
from tests.conftest import new_tenant


def test_receipts_ride_with_the_submit_results(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    hook = {"url": "https://hooks.example.com/sms", "strategy": "OnChange"}
    plain = [
        tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": f"+30694850000{n}"}) for n in (1, 2)
    ]
    hooked = tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": "+306948500003", "callback": hook})
    assert all(r.status_code == 200 for r in [*plain, hooked])
    claimed = container.dispatch.claim(10)
    by_to = {part.to: part for part in claimed}
    assert len(by_to) == 3
    results = [(part, SubmitResult(f"c-{part.to}")) for part in claimed]
    receipts = [
        DeliveryReport("c-+306948500001", "DELIVRD"),
        DeliveryReport("c-+306948500002", "ENROUTE"),  # two for one part: applied in order, as ever
        DeliveryReport("c-+306948500002", "UNDELIV", "001"),
        DeliveryReport("c-+306948500003", "DELIVRD"),
        DeliveryReport("c-elsewhere", "DELIVRD"),  # not one of these parts
    ]
    container.dispatch.record(results, receipts)

    with container.db.read() as conn:
        rows = {
            row.to: row
            for row in conn.execute(
                sa.select(
                    messages.c.to,
                    messages.c.status,
                    messages.c.detailed_status,
                    messages.c.carrier_message_id,
                    messages.c.submitted_at,
                    messages.c.delivered_at,
                    messages.c.lease_until,
                )
            )
        }
        inbox = [row.carrier_message_id for row in conn.execute(receipt_inbox.select())]
        outbox = [json.loads(row.payload) for row in conn.execute(callback_outbox.select())]
    one, two, three = rows["+306948500001"], rows["+306948500002"], rows["+306948500003"]
    assert (one.status, one.detailed_status, one.carrier_message_id) == (
        "Delivered",
        "Delivered",
        "c-+306948500001",
    )
    assert one.submitted_at is not None and one.delivered_at is not None and one.lease_until is None
    assert two.status == "Undelivered" and two.delivered_at is not None
    assert three.status == "Delivered" and three.delivered_at is not None
    assert inbox == ["c-elsewhere"]
    statuses = [payload["status"]["name"] for payload in outbox]
    assert statuses == ["Sent", "Delivered"], outbox  # the part with an OnChange callback: both changes


def test_receipts_for_parts_an_earlier_write_recorded(isolated: tuple[Container, TestClient]) -> None:
    """The engine writes a batch's answers in several writes; a receipt that came while an earlier write
    of its part was under way rides with the next one (``recorded``), straight to its part: no inbox."""
    container, http = isolated
    tenant = new_tenant(container, http)
    hook = {"url": "https://hooks.example.com/sms", "strategy": "OnChange"}
    assert tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": "+306948500001"}).status_code == 200
    hooked = tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": "+306948500002", "callback": hook})
    assert hooked.status_code == 200
    assert tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": "+306948500003"}).status_code == 200
    by_to = {part.to: part for part in container.dispatch.claim(10)}
    first = [(by_to[to], SubmitResult(f"c-{to}")) for to in ("+306948500001", "+306948500002")]
    container.dispatch.record(first)  # the first write: both Sent
    recorded = {f"c-{part.to}": (part.sms_id, part.has_callback) for part, _ in first}
    receipts = [DeliveryReport("c-+306948500001", "DELIVRD"), DeliveryReport("c-+306948500002", "UNDELIV")]
    third = by_to["+306948500003"]
    container.dispatch.record([(third, SubmitResult("c-+306948500003"))], receipts, recorded)

    with container.db.read() as conn:
        rows = {row.to: row for row in conn.execute(sa.select(messages.c.to, messages.c.status))}
        inbox = list(conn.execute(receipt_inbox.select()))
        outbox = [json.loads(row.payload) for row in conn.execute(callback_outbox.select())]
    assert {to: row.status for to, row in rows.items()} == {
        "+306948500001": "Delivered",
        "+306948500002": "Undelivered",
        "+306948500003": "Sent",
    }
    assert inbox == []
    assert [payload["status"]["name"] for payload in outbox] == ["Sent", "Undelivered"]
