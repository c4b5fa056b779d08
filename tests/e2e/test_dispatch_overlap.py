"""A dispatcher claims its next batch as soon as the carrier has answered every part of the current one,
while that batch's answers are still being written, so the carrier does not wait for the write and the
claim. At most two batches of a dispatcher are under way; nothing is sent twice or lost."""

from __future__ import annotations

import asyncio
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


class PromptCarrier(SandboxCarrier):
    """Reports each part at once, as an SMSC that answers and then reports in the same breath (the node-smpp
    simulator does)."""

    def __init__(self) -> None:
        super().__init__(dlr_delay_ms=0)

    def _queue_receipt(self, carrier_id: str) -> None:
        sink = self._sink
        assert sink is not None
        task = asyncio.get_running_loop().create_task(sink([DeliveryReport(carrier_id, self.stat)]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _run_with_grace(
    isolated: tuple[Container, TestClient], carrier: SandboxCarrier, grace_s: float
) -> list[tuple[set[str], set[str]]]:
    """Send a campaign to ``NUMBERS`` through ``carrier`` with ``receipt_grace_s`` = ``grace_s`` until it is
    Finished, every part Delivered and handed over once; returns each ``record`` call's carrier ids of
    answers and of receipts."""
    container, http = isolated
    tenant = new_tenant(container, http)
    dispatch = container.dispatch
    record = dispatch.record
    writes: list[tuple[set[str], set[str]]] = []

    def recorded(results: Sequence[Any], receipts: Sequence[DeliveryReport] = (), *args: Any) -> None:
        answered = {result.carrier_id for _, result in results if result.carrier_id is not None}
        writes.append((answered, {report.carrier_id for report in receipts}))
        record(results, receipts, *args)

    dispatch.record = recorded  # type: ignore[method-assign]
    settings = EngineSettings(
        batch=5, dispatchers=1, idle_s=0.02, scheduler_every_s=0.05, receipt_grace_s=grace_s
    )
    with running_engine(container, carrier, settings):
        campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS}).json()
        wait_for(
            lambda: tenant.get(f"/campaigns/{campaign['trackingId']}").json()["state"] == "Finished",
            what=lambda: f"campaign finished; writes {writes}",
        )
    answered = [carrier_id for ids, _ in writes for carrier_id in ids]
    assert len(answered) == len(set(answered)) == len(NUMBERS)
    statuses = tenant.get(f"/campaigns/{campaign['trackingId']}").json()["statuses"]
    assert statuses["Delivered"] == len(NUMBERS) == sum(statuses.values())
    return writes


def test_a_receipt_right_behind_its_answer_is_written_with_it(isolated: tuple[Container, TestClient]) -> None:
    """An answer whose receipt is not in yet waits ``receipt_grace_s`` for it: the part is written once,
    with the receipt's status, not Sent and then Delivered (a second row version)."""
    for ids, receipts in _run_with_grace(isolated, PromptCarrier(), grace_s=1.0):
        assert receipts == ids, "every receipt rides with its own answer's write, and no write without one"


class TrickleCarrier(SandboxCarrier):
    """Answers the parts of a batch one by one, 4 ms apart, and reports each 1.5 s later (as real SMSCs do,
    seconds later): all of a batch's answers come within the first 20 ms wait (``record_every_s``), so when
    it ends they are all younger than a grace of 50 ms and all held back, and no answer comes after them."""

    def __init__(self) -> None:
        super().__init__(dlr_delay_ms=1500)
        self._next = 0

    async def submit(self, part: OutboundPart) -> SubmitResult:
        self._next += 1
        await asyncio.sleep(0.004 * (self._next % 5))
        return await super().submit(part)


def test_answers_held_for_their_receipts_are_written_when_none_comes(
    isolated: tuple[Container, TestClient],
) -> None:
    """Receipts that come later than the grace hold nothing up: answers held back for theirs are written
    with the next write or, the batch's last ones, once the grace is over; their receipts come after."""
    writes = _run_with_grace(isolated, TrickleCarrier(), grace_s=0.05)
    assert any(ids and not receipts for ids, receipts in writes), "answers were written before any receipt"
