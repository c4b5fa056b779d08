"""A dispatcher claims its next batch as soon as the carrier has answered every part of the current one,
while that batch's answers are still being written, so the carrier does not wait for the write and the
claim. At most two batches of a dispatcher are under way; nothing is sent twice or lost."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.base import DeliveryReport, OutboundPart, SubmitResult
from smscast.carriers.sandbox import SandboxCarrier
from smscast.engine.runner import EngineSettings
from tests.conftest import new_tenant
from tests.engine_harness import running_engine, wait_for

NUMBERS = [f"+3069486{n:05d}" for n in range(1, 16)]  # three batches of five


class CountingCarrier(SandboxCarrier):
    def __init__(self) -> None:
        super().__init__(dlr_delay_ms=5)
        self.sent: list[str] = []

    async def submit(self, part: OutboundPart) -> SubmitResult:
        self.sent.append(part.sms_id)
        return await super().submit(part)


def test_the_next_batch_goes_out_while_the_last_one_is_written(
    isolated: tuple[Container, TestClient],
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    dispatch = container.dispatch
    record = dispatch.record
    release = threading.Event()
    writes: list[int] = []

    def held_record(results: Sequence[Any], receipts: Sequence[DeliveryReport] = (), *args: Any) -> None:
        writes.append(len(results))
        if len(writes) == 1:
            assert release.wait(30), "the test never released the first write"
        record(results, receipts, *args)

    dispatch.record = held_record  # type: ignore[method-assign]
    carrier = CountingCarrier()
    settings = EngineSettings(batch=5, dispatchers=1, idle_s=0.02, scheduler_every_s=0.05)
    with running_engine(container, carrier, settings):
        campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS}).json()
        # The first batch's write is held: the second batch is claimed and handed over meanwhile...
        wait_for(
            lambda: len(carrier.sent) == 10,
            what=lambda: f"the second batch handed over: {len(carrier.sent)} sent, writes {writes}",
        )
        # ...but not a third: that waits until the first batch is written.
        assert not release.wait(0.5)
        assert len(carrier.sent) == 10 and writes[0] == 5
        release.set()
        wait_for(
            lambda: tenant.get(f"/campaigns/{campaign['trackingId']}").json()["state"] == "Finished",
            what="campaign finished",
        )
    assert sorted(carrier.sent) == sorted(set(carrier.sent)) and len(carrier.sent) == len(NUMBERS)
    statuses = tenant.get(f"/campaigns/{campaign['trackingId']}").json()["statuses"]
    assert statuses["Delivered"] == len(NUMBERS) == sum(statuses.values())
