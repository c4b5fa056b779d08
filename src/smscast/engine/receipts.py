"""Batches delivery receipts into few transactions while keeping each one durable before it is answered.

``ReceiptBatcher.accept`` returns only once the receipts it was given are committed, so the carrier can
acknowledge them to the SMSC afterwards; receipts arriving meanwhile from other coroutines share one commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from smscast.carriers.base import DeliveryReport

MAX_BATCH = 2000
LINGER_S = 0.005


class ReceiptBatcher:
    def __init__(self, store: Callable[[Sequence[DeliveryReport]], None]) -> None:
        self._store = store
        self._pending: list[DeliveryReport] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def accept(self, reports: Sequence[DeliveryReport]) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.extend(reports)
        self._waiters.append(waiter)
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(LINGER_S)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            waiters, self._waiters = self._waiters, []
            if self._pending:
                # Waiters whose receipts are not all in this batch wait for the next commit too.
                self._waiters, waiters = waiters[-1:], waiters[:-1]
            try:
                await asyncio.to_thread(self._store, batch)
            except Exception as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
