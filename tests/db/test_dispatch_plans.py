"""The dispatcher's per-part writes find their parts by primary key, one probe each, even while the
statistics are stale — as they are while a campaign is being sent: its parts are not in them yet. With the
planner left to itself, the record read every queued part through ix_messages_dispatch and hashed them
(~30 rows read per row written); with hash joins off alone, it read them once per listed part."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.base import DeliveryReport, SubmitResult
from tests.conftest import new_tenant

NUMBERS = [f"+30694860{n:04d}" for n in range(3000)]


@pytest.fixture
def plans(isolated: tuple[Container, TestClient]) -> Iterator[list[str]]:
    """The plan of every ``UPDATE messages AS m`` the engine runs, EXPLAINed just before it runs, in its
    transaction and with its parameters."""
    container, _ = isolated
    if container.db.is_sqlite:
        pytest.skip("PostgreSQL's planner (SQLite's statements steer with +status)")
    seen: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.startswith("UPDATE messages AS m") and not many:
            cursor.execute("EXPLAIN " + statement, parameters)
            seen.append("\n".join(row[0] for row in cursor.fetchall()))

    sa.event.listen(container.db.engine, "before_cursor_execute", explain)
    try:
        yield seen
    finally:
        sa.event.remove(container.db.engine, "before_cursor_execute", explain)


def test_record_and_receipts_probe_the_primary_key_under_stale_statistics(
    isolated: tuple[Container, TestClient], plans: list[str]
) -> None:
    container, http = isolated
    with container.db.write() as conn:
        conn.exec_driver_sql("ANALYZE messages")  # empty: the statistics say no part is queued
    tenant = new_tenant(container, http, balance="100000")
    created = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS})
    assert created.status_code == 200, created.text
    container.starter.start_due()
    while container.starter.expand_next():
        pass
    first, second = container.dispatch.claim(500), container.dispatch.claim(500)
    assert len(first) == len(second) == 500

    container.dispatch.record([(part, SubmitResult(f"c-{part.sms_id}")) for part in first])
    recorded = {f"c-{part.sms_id}": (part.sms_id, part.has_callback) for part in first}
    receipts = [DeliveryReport(carrier_id, "DELIVRD") for carrier_id in recorded]
    container.dispatch.record(
        [(part, SubmitResult(f"c-{part.sms_id}")) for part in second], receipts, recorded
    )

    assert len(plans) >= 3  # Sent twice, the receipts' Delivered once
    for plan in plans:
        assert "pk_messages" in plan and "ix_messages_dispatch" not in plan, plan
        assert not any(word in plan for word in ("Hash Join", "Hash Semi", "Seq Scan", "Materialize")), plan
    with container.db.read() as conn:
        statuses = dict(conn.exec_driver_sql("SELECT status, count(*) FROM messages GROUP BY status").all())
    assert statuses == {"Delivered": 500, "Sent": 500, "Queued": 2000}
