"""Campaign expansion: an interrupted expansion resumes from its checkpoint (no part written twice, none
skipped), parts of a campaign that is not personalised read the campaign's text, and ids are UUIDv7."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.campaigns import CampaignEngineRepository
from smscast.db.expansion import DirectPartInserter
from smscast.db.messages import CampaignPartWriter
from smscast.db.schema import messages
from smscast.services.campaign_start import CampaignStarter
from tests.conftest import new_tenant


def _parts(container: Container, tracking_id: str) -> list[Any]:
    with container.db.read() as conn:
        return list(
            conn.execute(
                sa.select(messages.c.sms_id, messages.c.message_id, messages.c.to, messages.c.body).where(
                    messages.c.campaign_id == tracking_id
                )
            )
        )


@pytest.mark.parametrize(
    "in_database", [False, True], ids=["rows built in Python", "rows built by the database"]
)
def test_interrupted_expansion_resumes_from_its_checkpoint(
    isolated: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch, in_database: bool
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    numbers = [f"+3069485{n:05d}" for n in range(1, 13)]
    created = tenant.post("/sms/campaign", json={"body": "Hi there", "from": "ACME", "to": numbers}).json()
    tracking_id = created["trackingId"]
    starter = CampaignStarter(container.db, container.clock, write_batch=5, in_database=in_database)
    now = container.clock.now()
    with container.db.write() as conn:
        row = CampaignEngineRepository(conn).claim_expansion(now, now + timedelta(minutes=2))
    assert row is not None and row.tracking_id == tracking_id

    writer: Any = DirectPartInserter if in_database else CampaignPartWriter
    original = writer.insert
    calls = 0

    def crash_on_second_write(self: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker died")
        return original(self, *args)

    monkeypatch.setattr(writer, "insert", crash_on_second_write)
    with pytest.raises(RuntimeError, match="worker died"):
        starter._expand(row)
    assert len(_parts(container, tracking_id)) == 5  # the first batch, committed with its checkpoint

    monkeypatch.setattr(writer, "insert", original)
    assert starter._expand(row) == 12  # resumed: 5 before + 7 now
    parts = _parts(container, tracking_id)
    assert sorted(p.to for p in parts) == sorted(numbers)  # each number exactly once
    assert all(uuid.UUID(p.sms_id).version == 7 and uuid.UUID(p.message_id).version == 7 for p in parts)
    assert len({p.sms_id for p in parts}) == 12 and len({p.message_id for p in parts}) == 12
    assert all(p.body is None for p in parts)  # the campaign's text is stored once


def test_parts_of_a_plain_campaign_show_the_campaign_text(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    created = tenant.post(
        "/sms/campaign", json={"body": "Autumn offer", "from": "ACME", "to": ["+306948500001"]}
    ).json()
    assert container.starter.expand_next() == created["trackingId"]
    page = tenant.get(f"/sms/tracking/campaign/{created['trackingId']}").json()
    assert [record["body"] for record in page["content"]] == ["Autumn offer"]
    claimed = container.dispatch.claim(10)
    assert [part.body for part in claimed] == ["Autumn offer"]
    assert [part.has_callback for part in claimed] == [False]
