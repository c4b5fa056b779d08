"""``sandbox://``: accepts every part and reports it delivered after ``dlr_delay_ms`` (default 200)."""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import parse_qs, urlsplit

from smscast.carriers.base import DeliveryReport, OutboundPart, ReceiptSink, SubmitResult


class SandboxCarrier:
    def __init__(self, dlr_delay_ms: int = 200, stat: str = "DELIVRD") -> None:
        self.dlr_delay_s = dlr_delay_ms / 1000
        self.stat = stat
        self._ids = itertools.count(1)
        self._sink: ReceiptSink | None = None
        self._pending: list[DeliveryReport] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.submitted: list[OutboundPart] = []

    @classmethod
    def from_url(cls, url: str) -> SandboxCarrier:
        query = parse_qs(urlsplit(url).query)
        delay = int(query.get("dlr_delay_ms", ["200"])[0])
        stat = query.get("stat", ["DELIVRD"])[0]
        return cls(delay, stat)

    async def start(self, on_receipts: ReceiptSink) -> None:
        self._sink = on_receipts

    async def submit(self, part: OutboundPart) -> SubmitResult:
        carrier_id = f"sbx-{next(self._ids)}-{part.sms_id[:8]}"
        loop = asyncio.get_running_loop()
        loop.call_later(self.dlr_delay_s, self._queue_receipt, carrier_id)
        return SubmitResult(carrier_id)

    def _queue_receipt(self, carrier_id: str) -> None:
        self._pending.append(DeliveryReport(carrier_id, self.stat))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        # One sink call per burst of receipts, as an SMSC session would batch them.
        await asyncio.sleep(0.02)
        while self._pending and self._sink is not None:
            batch, self._pending = self._pending, []
            await self._sink(batch)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
