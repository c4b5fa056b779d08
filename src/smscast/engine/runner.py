"""The engine: the loops a process runs beside (or without) the API."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from smscast.carriers.base import Carrier, DeliveryReport, OutboundPart, SubmitResult, SubmitsEach
from smscast.db.dispatch import ClaimedPart
from smscast.db.errors import FaultLog
from smscast.engine.callbacks import CallbackSender
from smscast.engine.nudge import Nudge, wait_unless_stopped
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
    record_every_s: float = 0.02
    # An answer younger than this whose receipt is not here yet waits for the next write (or, for the
    # batch's last answers, this long): an SMSC that reports at once then gets its part written once, with
    # the receipt's status, instead of Sent and then the receipt's status (a second row version).
    receipt_grace_s: float = 0.005


class _Unrecorded:
    """Receipts for parts of one dispatcher's batch that the carrier accepted, while the batch is being
    recorded. They ride along with the batch's next write (one transaction instead of the inbox's four
    statements), and whoever handed them over is answered once it commits. A receipt for a part whose
    write is already under way or done (``recorded``: carrier id → ``(sms_id, has_callback)``) rides
    with the next one too: looked up by carrier id while that write was not committed, it would have
    missed its part and gone through the inbox."""

    __slots__ = ("committed", "receipts", "recorded")

    def __init__(self) -> None:
        self.receipts: list[DeliveryReport] = []
        self.committed: asyncio.Future[None] | None = None
        self.recorded: dict[str, tuple[str, bool]] = {}

    def attach(self, report: DeliveryReport) -> asyncio.Future[None]:
        self.receipts.append(report)
        if self.committed is None:
            self.committed = asyncio.get_running_loop().create_future()
        return self.committed

    def take(self) -> tuple[list[DeliveryReport], asyncio.Future[None] | None]:
        taken = self.receipts, self.committed
        self.receipts, self.committed = [], None
        return taken


def _take_answered(
    answered: list[tuple[ClaimedPart, SubmitResult]],
    answered_at: list[float],
    batch: _Unrecorded,
    young: float,
) -> list[tuple[ClaimedPart, SubmitResult]]:
    """Remove and return the answers to write now: all but those given after ``young`` (loop time) whose
    receipt is not here yet. Those stay in ``answered`` for the next write, so that a receipt coming right
    behind its answer is written with it (one row version with the receipt's status, not Sent and then
    that: `DispatchService.record`)."""
    if not answered_at or answered_at[-1] <= young:
        everything = answered[:]
        del answered[:], answered_at[:]
        return everything
    receipted = {report.carrier_id for report in batch.receipts}
    chunk: list[tuple[ClaimedPart, SubmitResult]] = []
    held: list[tuple[ClaimedPart, SubmitResult]] = []
    held_at: list[float] = []
    for answer, at in zip(answered, answered_at, strict=True):
        carrier_id = answer[1].carrier_id
        # (A part with a callback goes through Sent whatever comes: its webhook reports both.)
        if at <= young or carrier_id is None or answer[0].has_callback or carrier_id in receipted:
            chunk.append(answer)
        else:
            held.append(answer)
            held_at.append(at)
    answered[:], answered_at[:] = held, held_at
    return chunk


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
        # Carrier ids answered but not yet written, by the batch that writes them (see _Unrecorded).
        self._unrecorded: dict[str, _Unrecorded] = {}
        # A database that is down, full or read-only: one line when it starts and when it ends, not a
        # traceback per retry (db/errors.py).
        self.faults = FaultLog(log)
        # Work queued by this process (the API beside the engine) wakes the loop that takes it at once.
        self.scheduler_nudge = Nudge()
        self.dispatch_nudge = Nudge()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until ``stop`` is set; a batch in flight is finished and recorded first."""
        self.scheduler_nudge.bind()
        self.dispatch_nudge.bind()
        await self.carrier.start(self._on_receipts)
        loops = [
            self._loop(
                stop, self._schedule_once, self.settings.scheduler_every_s, "scheduler", self.scheduler_nudge
            ),
            self._loop(stop, self._maintain_once, self.settings.maintenance_every_s, "maintenance"),
        ]
        loops += [self._dispatch_loop(stop, n) for n in range(self.settings.dispatchers)]
        if self.callbacks is not None:
            loops.append(self.callbacks.run(stop))
        try:
            await asyncio.gather(*loops)
        finally:
            await self.carrier.close()
            try:  # kept parts not taken are anyone's at once, not after their lease
                await asyncio.to_thread(self.dispatch.release_kept)
            except Exception as exc:  # their lease ends by itself
                log.warning("kept parts not released (due again when their lease ends): %s", exc)

    async def _loop(
        self,
        stop: asyncio.Event,
        step: Callable[[], Awaitable[bool]],
        every_s: float,
        name: str,
        nudge: Nudge | None = None,
    ) -> None:
        while not stop.is_set():
            busy = False
            try:
                busy = await step()
                self.faults.succeeded(name)
            except Exception as exc:
                self.faults.failure(name, exc, every_s)
            if not busy:
                if nudge is None:
                    await wait_unless_stopped(stop, every_s)
                else:
                    await nudge.wait(stop, every_s)

    async def _on_receipts(self, reports: Sequence[DeliveryReport]) -> None:
        """Persist ``reports`` before returning (the carrier acknowledges them afterwards): those of parts
        whose submit result is about to be written go with that write, the others through the batcher."""
        unrecorded = self._unrecorded
        others: list[DeliveryReport] = []
        commits: set[asyncio.Future[None]] = set()
        for report in reports:
            batch = unrecorded.get(report.carrier_id)
            if batch is None:
                others.append(report)
            else:
                commits.add(batch.attach(report))
        if others:
            await self.receipts.accept(others)
        for commit in commits:
            await commit

    async def _schedule_once(self) -> bool:
        await asyncio.to_thread(self.starter.start_due)
        await asyncio.to_thread(self.starter.send_due_reminders)
        expanded = await asyncio.to_thread(self.starter.expand_next)
        if expanded is not None:
            self.dispatch_nudge.notify()
        await asyncio.to_thread(self.starter.advance)
        return expanded is not None

    async def _maintain_once(self) -> bool:
        await asyncio.to_thread(self.dispatch.apply_receipts)
        await asyncio.to_thread(self.dispatch.expire_missing_receipts)
        await asyncio.to_thread(self.dispatch.purge_unmatched_receipts)
        return False

    async def _dispatch_loop(self, stop: asyncio.Event, number: int) -> None:
        """Claim a batch and hand it to the carrier; once the carrier has answered all of it, claim and hand
        over the next while the answers are still being written: the carrier does not wait for the write
        and the claim. At most two batches of a dispatcher are under way: before a third is claimed, the
        first must be written."""
        writing: asyncio.Task[None] | None = None  # the batch before the current one, its write unfinished
        current: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                try:
                    parts = await asyncio.to_thread(
                        self.dispatch.claim, self.settings.batch, self.settings.dispatchers
                    )
                    self.faults.succeeded(f"dispatcher {number} claim")
                except Exception as exc:
                    self.faults.failure(f"dispatcher {number} claim", exc, FAILED_PAUSE_S)
                    await wait_unless_stopped(stop, FAILED_PAUSE_S)
                    continue
                if not parts:
                    await self.dispatch_nudge.wait(stop, self.settings.idle_s)
                    continue
                answered = asyncio.Event()
                current = asyncio.create_task(self._submit_and_record(parts, number, answered))
                all_answered = asyncio.create_task(answered.wait())
                try:
                    await asyncio.wait([current, all_answered], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    all_answered.cancel()
                if writing is not None:
                    await writing
                writing, current = current, None
        finally:
            for task in (writing, current):
                if task is not None:
                    await task

    async def _submit_and_record(
        self, parts: list[ClaimedPart], number: int, answered_all: asyncio.Event | None = None
    ) -> None:
        """Submit ``parts`` and record the answers as they arrive: each write takes every answer that came
        in since the last one (or in ``record_every_s``, whichever is longer), but those younger than
        ``receipt_grace_s`` still waiting for their receipt (`_take_answered`). Recording the batch only
        once all of it was answered would leave up to a whole batch accepted by the carrier but not recorded
        when the process dies, all sent again after the lease (docs/adr/0002); this way only the window in
        flight and the answers of one write's interval (and of the grace before it) are."""
        answered: list[tuple[ClaimedPart, SubmitResult]] = []
        answered_at: list[float] = []  # loop time of each answer, in step with ``answered``
        arrived = asyncio.Event()
        batch = _Unrecorded()
        waiting_ids = self._unrecorded
        loop = asyncio.get_running_loop()
        grace = self.settings.receipt_grace_s

        count = itertools.count(1)
        total = len(parts)

        def on_answer(part: ClaimedPart, result: SubmitResult) -> None:
            answered.append((part, result))
            answered_at.append(loop.time())
            if result.carrier_id is not None:
                waiting_ids[result.carrier_id] = batch
            arrived.set()
            if next(count) == total and answered_all is not None:
                answered_all.set()

        async def submit(part: ClaimedPart) -> None:
            on_answer(part, await self._submit(part))

        def written(chunk: list[tuple[ClaimedPart, SubmitResult]]) -> None:
            for part, result in chunk:
                if result.carrier_id is not None:
                    batch.recorded[result.carrier_id] = (part.sms_id, part.has_callback)

        def forget(carrier_ids: Iterable[str | None]) -> None:  # their receipts take the usual way again
            for carrier_id in carrier_ids:
                if carrier_id is not None and waiting_ids.get(carrier_id) is batch:
                    del waiting_ids[carrier_id]

        unrecorded = {part.sms_id for part in parts}
        tasks: list[asyncio.Task[None]] = []
        if isinstance(self.carrier, SubmitsEach):
            # No task per part: at thousands of parts a second their creation and scheduling show.
            self._submit_each(self.carrier, parts, on_answer)
        else:
            tasks = [asyncio.create_task(submit(part)) for part in parts]
        renewing = asyncio.create_task(self._renew_leases(unrecorded, number))
        try:
            while unrecorded:
                await arrived.wait()
                if len(answered) < len(unrecorded):
                    await asyncio.sleep(self.settings.record_every_s)
                else:  # the batch's last answers: a moment for the receipts that follow them at once
                    await asyncio.sleep(grace)
                arrived.clear()
                chunk = _take_answered(answered, answered_at, batch, loop.time() - grace)
                if answered:  # answers held back for their receipts: come back for them
                    arrived.set()
                if not chunk:
                    continue
                # Taken in the same step as the chunk: every receipt here is for a part of the chunk or
                # of an earlier write (an answer held back has none yet), none for a held-back part.
                receipts, committed = batch.take()
                # Before the write, not after: a receipt for these parts arriving meanwhile rides with the
                # next write, and if this one never ends (the dispatcher stops) `forget` still finds them.
                written(chunk)
                await self._record(chunk, receipts, number, batch.recorded)
                if committed is not None:
                    committed.set_result(None)
                unrecorded.difference_update(part.sms_id for part, _ in chunk)
            while batch.receipts:  # those that came during the last write
                receipts, committed = batch.take()
                await self._record([], receipts, number, batch.recorded)
                if committed is not None:
                    committed.set_result(None)
        finally:
            renewing.cancel()
            for task in tasks:
                task.cancel()
            forget(result.carrier_id for _, result in answered)
            forget(batch.recorded)
            receipts, committed = batch.take()
            if committed is not None:  # stopped before the write: the SMSC will send these again
                committed.set_exception(RuntimeError("dispatcher stopped before writing these receipts"))

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

    async def _record(
        self,
        results: list[tuple[ClaimedPart, SubmitResult]],
        receipts: list[DeliveryReport],
        number: int,
        recorded: dict[str, tuple[str, bool]],
    ) -> None:
        where = f"dispatcher {number} record"
        while True:
            try:
                await asyncio.to_thread(self.dispatch.record, results, receipts, recorded)
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
        on_answer: Callable[[ClaimedPart, SubmitResult], None],
    ) -> None:
        ready: list[ClaimedPart] = []
        payloads: list[OutboundPart] = []
        for part in parts:
            try:
                payloads.append(outbound(part))
                ready.append(part)
            except Exception as exc:
                log.warning("submit of %s failed: %s", part.sms_id, exc)
                on_answer(part, SubmitResult(None, error=str(exc), retry=True))

        def on_result(index: int, result: SubmitResult) -> None:
            on_answer(ready[index], result)

        carrier.submit_each(payloads, on_result)

    async def _submit(self, part: ClaimedPart) -> SubmitResult:
        try:
            return await self.carrier.submit(outbound(part))
        except Exception as exc:
            log.warning("submit of %s failed: %s", part.sms_id, exc)
            return SubmitResult(None, error=str(exc), retry=True)
