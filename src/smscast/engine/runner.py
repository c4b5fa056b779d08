"""The engine: the loops a process runs beside (or without) the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from smscast.carriers.base import Carrier, OutboundPart, SubmitResult, SubmitsEach
from smscast.db.dispatch import ClaimedPart
from smscast.db.errors import FaultLog
from smscast.engine.callbacks import CallbackSender
from smscast.engine.receipts import ReceiptBatcher
from smscast.services.campaign_start import CampaignStarter
from smscast.services.dispatching import DispatchService, outbound

log = logging.getLogger("smscast.engine")
FAILED_PAUSE_S = 1.0  # the least pause before a loop retries a step that raised


@dataclass(frozen=True)
class EngineSettings:
    batch: int = 500
    dispatchers: int = 2
    idle_s: float = 0.2
    scheduler_every_s: float = 0.5
    maintenance_every_s: float = 5.0
    # How long a dispatcher lets the carrier's answers gather before writing them: fewer, larger writes,
    # while a crash still leaves only this long's answers (and the window in flight) unrecorded.
    record_every_s: float = 0.05


class Engine:
    def __init__(
        self,
        starter: CampaignStarter,
        dispatch: DispatchService,
        carrier: Carrier,
        settings: EngineSettings | None = None,
        callbacks: CallbackSender | None = None,
    ) -> None:
        self.starter = starter
        self.dispatch = dispatch
        self.carrier = carrier
        self.settings = settings or EngineSettings()
        self.callbacks = callbacks
        self.receipts = ReceiptBatcher(dispatch.store_receipts)
        # A database that is down, full or read-only: one line when it starts and when it ends, not a
        # traceback per retry (db/errors.py).
        self.faults = FaultLog(log)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until ``stop`` is set; a batch in flight is finished and recorded first."""
        await self.carrier.start(self.receipts.accept)
        loops = [
            self._loop(stop, self._schedule_once, self.settings.scheduler_every_s, "scheduler"),
            self._loop(stop, self._maintain_once, self.settings.maintenance_every_s, "maintenance"),
        ]
        loops += [self._dispatch_loop(stop, n) for n in range(self.settings.dispatchers)]
        if self.callbacks is not None:
            loops.append(self.callbacks.run(stop))
        try:
            await asyncio.gather(*loops)
        finally:
            await self.carrier.close()

    async def _loop(
        self, stop: asyncio.Event, step: Callable[[], Awaitable[bool]], every_s: float, name: str
    ) -> None:
        while not stop.is_set():
            busy = False
            try:
                busy = await step()
                self.faults.succeeded(name)
            except Exception as exc:
                self.faults.failure(name, exc, every_s)
            if not busy:
                await _wait(stop, every_s)

    async def _schedule_once(self) -> bool:
        await asyncio.to_thread(self.starter.start_due)
        await asyncio.to_thread(self.starter.send_due_reminders)
        expanded = await asyncio.to_thread(self.starter.expand_next)
        await asyncio.to_thread(self.starter.advance)
        return expanded is not None

    async def _maintain_once(self) -> bool:
        await asyncio.to_thread(self.dispatch.release_expired_leases)
        await asyncio.to_thread(self.dispatch.apply_receipts)
        await asyncio.to_thread(self.dispatch.expire_missing_receipts)
        await asyncio.to_thread(self.dispatch.purge_unmatched_receipts)
        return False

    async def _dispatch_loop(self, stop: asyncio.Event, number: int) -> None:
        while not stop.is_set():
            try:
                parts = await asyncio.to_thread(self.dispatch.claim, self.settings.batch)
                self.faults.succeeded(f"dispatcher {number} claim")
            except Exception as exc:
                self.faults.failure(f"dispatcher {number} claim", exc, FAILED_PAUSE_S)
                await _wait(stop, FAILED_PAUSE_S)
                continue
            if not parts:
                await _wait(stop, self.settings.idle_s)
                continue
            await self._submit_and_record(parts, number)

    async def _submit_and_record(self, parts: list[ClaimedPart], number: int) -> None:
        """Submit ``parts`` and record the answers as they arrive: each write takes every answer that came
        in since the last one (or in ``record_every_s``, whichever is longer). Recording the batch only once
        all of it was answered would leave up to a whole batch accepted by the carrier but not recorded when
        the process dies, all sent again after the lease (docs/adr/0002); this way only the window in flight
        and the answers of one write's interval are."""
        answered: list[tuple[ClaimedPart, SubmitResult]] = []
        arrived = asyncio.Event()

        async def submit(part: ClaimedPart) -> None:
            answered.append((part, await self._submit(part)))
            arrived.set()

        unrecorded = {part.sms_id for part in parts}
        tasks: list[asyncio.Task[None]] = []
        if isinstance(self.carrier, SubmitsEach):
            # No task per part: at thousands of parts a second their creation and scheduling show.
            self._submit_each(self.carrier, parts, answered, arrived)
        else:
            tasks = [asyncio.create_task(submit(part)) for part in parts]
        renewing = asyncio.create_task(self._renew_leases(unrecorded, number))
        try:
            while unrecorded:
                await arrived.wait()
                if len(answered) < len(unrecorded):
                    await asyncio.sleep(self.settings.record_every_s)
                arrived.clear()
                chunk = answered[:]
                del answered[:]
                await self._record(chunk, number)
                unrecorded.difference_update(part.sms_id for part, _ in chunk)
        finally:
            renewing.cancel()
            for task in tasks:
                task.cancel()

    async def _renew_leases(self, unrecorded: set[str], number: int) -> None:
        """Every third of a lease, extend the lease of the parts of a batch not recorded yet: a slow carrier
        may take longer than one lease to get through a batch (500 parts at 5 msg/s take 100 s)."""
        every = self.dispatch.settings.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.dispatch.renew_leases, sorted(unrecorded))
                self.faults.succeeded(f"dispatcher {number} lease renewal")
            except Exception as exc:
                self.faults.failure(f"dispatcher {number} lease renewal", exc, every)

    async def _record(self, results: list[tuple[ClaimedPart, SubmitResult]], number: int) -> None:
        where = f"dispatcher {number} record"
        while True:
            try:
                await asyncio.to_thread(self.dispatch.record, results)
                self.faults.succeeded(where)
                return
            except Exception as exc:
                # Keep trying: the carrier has these parts, so their results must be written.
                self.faults.failure(where, exc, FAILED_PAUSE_S)
                await asyncio.sleep(FAILED_PAUSE_S)

    @staticmethod
    def _submit_each(
        carrier: SubmitsEach,
        parts: list[ClaimedPart],
        answered: list[tuple[ClaimedPart, SubmitResult]],
        arrived: asyncio.Event,
    ) -> None:
        ready: list[ClaimedPart] = []
        payloads: list[OutboundPart] = []
        for part in parts:
            try:
                payloads.append(outbound(part))
                ready.append(part)
            except Exception as exc:
                log.warning("submit of %s failed: %s", part.sms_id, exc)
                answered.append((part, SubmitResult(None, error=str(exc), retry=True)))
                arrived.set()

        def on_result(index: int, result: SubmitResult) -> None:
            answered.append((ready[index], result))
            arrived.set()

        carrier.submit_each(payloads, on_result)

    async def _submit(self, part: ClaimedPart) -> SubmitResult:
        try:
            return await self.carrier.submit(outbound(part))
        except Exception as exc:
            log.warning("submit of %s failed: %s", part.sms_id, exc)
            return SubmitResult(None, error=str(exc), retry=True)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
