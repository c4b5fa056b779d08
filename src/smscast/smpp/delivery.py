"""deliver_sm handling for an `SmppSession` (``session``): the PDUs go to ``on_deliver`` one by one, or
to ``on_deliver_many`` one read at a time, from the session's worker tasks, and each is answered once its
handler returns (ESME_RX_T_APPN if it raised, so that the SMSC redelivers it). The semantics callers must
know are in the ``session`` module docstring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from smscast.smpp import constants as c
from smscast.smpp.connection import Connection
from smscast.smpp.fast import ReceiptSm, deliver_sm_resp
from smscast.smpp.pdu import DeliverSm
from smscast.smpp.receipts import receipt_report
from smscast.smpp.session_types import SessionStats

log = logging.getLogger("smscast.smpp")
DELIVER_FAILURE_REMINDER_S = 60.0


class Deliveries:
    """The deliver_sm received and not answered yet, the handlers and the run of their failures. Counts
    ``delivered`` and ``deliver_errors`` in the session's ``stats``."""

    def __init__(
        self,
        on_deliver: Callable[[DeliverSm], Awaitable[None]],
        on_deliver_many: Callable[[list[DeliverSm]], Awaitable[None]] | None,
        stats: SessionStats,
        on_receipts: Callable[[list[tuple[str, str, str]]], Awaitable[None]] | None = None,
    ) -> None:
        self._on_deliver = on_deliver
        self._on_deliver_many = on_deliver_many
        self._on_receipts = on_receipts
        self._stats = stats
        # One deliver_sm, or those of one read: a list (on_deliver_many) or a tuple (on_receipts).
        self._queue: asyncio.Queue[tuple[Connection, DeliverSm | list[DeliverSm] | tuple[ReceiptSm, ...]]]
        self._queue = asyncio.Queue()
        # A run of failed deliver_sm handlers: [began, last logged, deliver_sm refused] (`_failed`).
        self._failing: list[float] | None = None

    def received(self, conn: Connection, pdu: DeliverSm | ReceiptSm) -> None:
        self._stats.delivered += 1
        if self._on_receipts is not None:  # handed over together at the end of this read
            if isinstance(pdu, DeliverSm):  # one the fast path left to the general decoder
                pdu = ReceiptSm(pdu.sequence_number, receipt_report(pdu))
            conn.receipts.append(pdu)
        elif isinstance(pdu, ReceiptSm):
            raise TypeError("a ReceiptSm without on_receipts")  # the reader makes them only for on_receipts
        elif self._on_deliver_many is not None:
            conn.delivers.append(pdu)  # handed over together at the end of this read
        else:
            self._queue.put_nowait((conn, pdu))

    def read_done(self, conn: Connection) -> None:
        """The deliver_sm PDUs of one read, as one batch (``on_deliver_many`` and ``on_receipts`` modes)."""
        if conn.receipts:
            receipts, conn.receipts = tuple(conn.receipts), []
            self._queue.put_nowait((conn, receipts))
        if conn.delivers:
            batch, conn.delivers = conn.delivers, []
            self._queue.put_nowait((conn, batch))

    async def worker(self) -> None:
        while True:
            conn, item = await self._queue.get()
            if isinstance(item, list):
                await self._batch(conn, item)
                continue
            if isinstance(item, tuple):
                await self._receipts(conn, item)
                continue
            pdu = item
            status = c.ESME_ROK
            try:
                await self._on_deliver(pdu)
                self._succeeded()
            except Exception:
                self._failed("on_deliver", 1)
                status = c.ESME_RX_T_APPN
            if not conn.lost:
                conn.send(deliver_sm_resp(status, pdu.sequence_number))

    async def _batch(self, conn: Connection, pdus: list[DeliverSm]) -> None:
        assert self._on_deliver_many is not None
        await self._answered(
            conn, "on_deliver_many", self._on_deliver_many(pdus), [p.sequence_number for p in pdus]
        )

    async def _receipts(self, conn: Connection, receipts: tuple[ReceiptSm, ...]) -> None:
        assert self._on_receipts is not None
        reports = [r.report for r in receipts if r.report is not None]
        await self._answered(
            conn, "on_receipts", self._on_receipts(reports), [r.sequence_number for r in receipts]
        )

    async def _answered(
        self, conn: Connection, handler: str, handling: Awaitable[None], sequence_numbers: list[int]
    ) -> None:
        """Await ``handling`` (one read's deliver_sm), then answer them all in one send: ESME_ROK, or
        ESME_RX_T_APPN if it raised, so that the SMSC redelivers them."""
        status = c.ESME_ROK
        try:
            await handling
            self._succeeded()
        except Exception:
            self._failed(handler, len(sequence_numbers))
            status = c.ESME_RX_T_APPN
        if not conn.lost:
            conn.send(b"".join([deliver_sm_resp(status, number) for number in sequence_numbers]))

    def _failed(self, handler: str, pdus: int) -> None:
        """Count a failed handler (called in its ``except``). The first failure of a run is logged with its
        traceback, then a count once a minute: a handler that fails on every redelivery (its database is
        down or full) writes a few lines, not a traceback per deliver_sm."""
        self._stats.deliver_errors += pdus
        now = asyncio.get_running_loop().time()
        if self._failing is None:
            self._failing = [now, now, 0]
            log.exception("%s failed; answering ESME_RX_T_APPN so that the SMSC retries", handler)
        elif now - self._failing[1] >= DELIVER_FAILURE_REMINDER_S:
            self._failing[1] = now
            log.warning(
                "%s still failing: %d deliver_sm answered ESME_RX_T_APPN in %.0f s",
                handler,
                self._failing[2] + pdus,
                now - self._failing[0],
            )
        self._failing[2] += pdus

    def _succeeded(self) -> None:
        if self._failing is not None:
            log.info("deliver_sm handled again after %d refused", self._failing[2])
            self._failing = None
