"""The carrier port: submit parts, receive delivery receipts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Not frozen: these three are built several times per message on both sides of the carrier process, and a
# frozen dataclass's __init__ (object.__setattr__ per field) costs 2–3 times a plain one's. Treat them as
# values all the same.


@dataclass(slots=True)
class OutboundPart:
    """One SMS part, ready for a carrier. ``payload`` is encoded (GSM unpacked septets or UCS-2 BE), without
    UDH; ``part``/``parts``/``ref`` describe concatenation."""

    sms_id: str
    to: str
    sender: str
    data_coding: int
    payload: bytes
    part: int
    parts: int
    ref: int
    flash: bool
    validity_minutes: int | None


@dataclass(slots=True)
class SubmitResult:
    """``carrier_id`` when accepted; else ``error`` (a permanent refusal) and ``retry`` if worth retrying."""

    carrier_id: str | None
    error: str | None = None
    retry: bool = False


@dataclass(slots=True)
class DeliveryReport:
    carrier_id: str
    stat: str
    error_code: str | None = None


ReceiptSink = Callable[[Sequence[DeliveryReport]], Awaitable[None]]


class Carrier(Protocol):
    async def start(self, on_receipts: ReceiptSink) -> None:
        """Connect; from now on receipts are handed to ``on_receipts`` (which persists them before
        returning, so a receipt is acknowledged to the SMSC only once it is safe)."""
        ...

    async def submit(self, part: OutboundPart) -> SubmitResult:
        """Hand one part over; safe to call from many coroutines at once."""
        ...

    async def close(self) -> None: ...


SubmitCallback = Callable[[int, SubmitResult], None]


@runtime_checkable
class SubmitsEach(Protocol):
    """An optional carrier method for dispatchers handing over many parts at once."""

    def submit_each(self, parts: Sequence[OutboundPart], on_result: SubmitCallback) -> None:
        """Hand ``parts`` over without a coroutine per part; ``on_result(index, result)`` is called from the
        event loop as each is answered, exactly once per part, never from inside this call. Never raises: a
        part that cannot be handed over is reported as a failure worth retrying."""
        ...
