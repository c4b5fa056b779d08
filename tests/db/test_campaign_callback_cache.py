"""A started campaign's ``campaignCallback`` is read from its stored definition once per process (parsing a
20,000-number definition on every scheduler pass held SQLite's writer ~5 ms each time); a campaign still
``Scheduled`` is read afresh, so an update before its start is what its callbacks use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.callbacks import CallbackRepository
from smscast.db.schema import callback_outbox
from tests.conftest import new_tenant

GR = [f"+3069485200{n:02d}" for n in range(3)]


def test_campaign_callback_is_read_once_started_and_afresh_before(
    isolated: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    reads: list[str] = []
    original = CallbackRepository.campaign_definition

    def counted(self: CallbackRepository, tracking_id: str) -> str | None:
        reads.append(tracking_id)
        return original(self, tracking_id)

    monkeypatch.setattr(CallbackRepository, "campaign_definition", counted)
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = {"body": "Hi", "from": "ACME", "to": GR, "scheduledDate": later}
    first = {"url": "https://hooks.example.com/first", "strategy": "OnChange"}
    created = tenant.post("/sms/campaign", json={**body, "campaignCallback": first})
    assert created.status_code == 200, created.text
    tracking_id = created.json()["trackingId"]
    second = {"url": "https://hooks.example.com/second", "strategy": "OnChange"}
    updated = tenant.put(
        f"/sms/{tracking_id}", json={**body, "scheduledDate": None, "campaignCallback": second}
    )
    assert updated.status_code == 200, updated.text

    container.starter.start_due()
    while container.starter.expand_next():
        pass
    for _ in range(3):
        container.starter.advance()
    with container.db.read() as conn:
        urls = {row.url for row in conn.execute(sa.select(callback_outbox.c.url))}
        payloads = [json.loads(row.payload) for row in conn.execute(sa.select(callback_outbox.c.payload))]
    assert urls == {second["url"]}  # the update before the start is what counts
    assert payloads  # Queued / Running reported
    # Read once, at the start (Queued); the two state changes and three scheduler passes after it reuse it.
    assert reads.count(tracking_id) == 1, reads
