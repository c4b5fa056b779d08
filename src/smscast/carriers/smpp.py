"""``smpp://system_id:password@host:port?window=100&tps=0&bind=transceiver``: an SMSC over SMPP 3.4.

Extra query options: ``concat=udh|sar`` (how long messages are joined, default udh),
``enquire_link_s``, ``deliver_concurrency`` (reads of receipts handled at once, default 256: the receipts of
one read are parsed and persisted together, and those of concurrent reads share a commit).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Sequence
from typing import Literal, cast
from urllib.parse import parse_qs, unquote, urlsplit

from smscast.carriers.base import DeliveryReport, OutboundPart, ReceiptSink, SubmitCallback, SubmitResult
from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm, SubmitSm
from smscast.smpp.receipts import parse_receipt
from smscast.smpp.session import SessionClosed, SmppConfig, SmppSession, SubmitOutcome
from smscast.smpp.submit import (
    SubmitFields,
    build_submit_part,
    relative_validity_period,
    submit_template,
    with_destination,
)

# Refusals worth another attempt later rather than a final Failed.
_TRANSIENT = frozenset({c.ESME_RTHROTTLED, c.ESME_RMSGQFUL, c.ESME_RSYSERR})
# The longest message id SMPP 3.4 allows (a C-Octet String of 65 with its NUL), and the width of the
# carrier id columns (``messages.carrier_message_id``, ``receipt_inbox.carrier_message_id``).
CARRIER_ID_MAX = 64


def carrier_id(message_id: str) -> str:
    """The id stored for an SMSC's ``message_id``: itself when it fits, else its first 31 characters, ``~``
    and 32 hex digits of its SHA-256, the same for its submit_sm_resp and for its receipts. An SMSC that
    sends longer ids than SMPP allows would otherwise fail every write of its parts' results on PostgreSQL
    (``value too long``), and the dispatcher would retry that write for ever."""
    if len(message_id) <= CARRIER_ID_MAX:
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{message_id[:31]}~{digest[:32]}"


class SmppCarrier:
    def __init__(self, config: SmppConfig, concat: Literal["udh", "sar"] = "udh") -> None:
        self.config = config
        self.concat = concat
        self._session: SmppSession | None = None
        self._sink: ReceiptSink | None = None

    @classmethod
    def from_url(cls, url: str) -> SmppCarrier:
        parts = urlsplit(url)
        if not parts.hostname or not parts.username:
            raise ValueError("smpp:// URL needs system_id:password@host:port")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        bind = query.get("bind", "transceiver")
        if bind not in ("transceiver", "transmitter+receiver"):
            raise ValueError("bind is transceiver or transmitter+receiver")
        concat = query.get("concat", "udh")
        if concat not in ("udh", "sar"):
            raise ValueError("concat is udh or sar")
        config = SmppConfig(
            host=parts.hostname,
            port=parts.port or 2775,
            system_id=unquote(parts.username),
            password=unquote(parts.password or ""),
            bind=cast(Literal["transceiver", "transmitter+receiver"], bind),
            window=int(query.get("window", "100")),
            tps=float(query.get("tps", "0")),
            enquire_link_s=float(query.get("enquire_link_s", "30")),
            deliver_concurrency=int(query.get("deliver_concurrency", "256")),
        )
        return cls(config, cast(Literal["udh", "sar"], concat))

    async def start(self, on_receipts: ReceiptSink) -> None:
        self._sink = on_receipts
        self._session = SmppSession(self.config, self._on_deliver, on_receipts=self._on_receipts)
        await self._session.start()

    async def _on_deliver(self, pdu: DeliverSm) -> None:
        receipt = parse_receipt(pdu)
        if receipt is None or self._sink is None:
            return  # a mobile-originated message: not ours to handle (yet)
        await self._sink([DeliveryReport(carrier_id(receipt.message_id), receipt.stat, receipt.err or None)])

    async def _on_receipts(self, reports: list[tuple[str, str, str]]) -> None:
        """The receipts of one read (mobile-originated messages are not ours to handle, yet)."""
        if reports and self._sink is not None:
            await self._sink([DeliveryReport(carrier_id(m), stat, err or None) for m, stat, err in reports])

    async def submit(self, part: OutboundPart) -> SubmitResult:
        if self._session is None:
            raise RuntimeError("carrier not started")
        try:
            outcome = await self._session.submit(self._pdu(part))
        except SessionClosed as exc:
            return SubmitResult(None, error=str(exc), retry=True)
        return _result(outcome)

    def submit_each(self, parts: Sequence[OutboundPart], on_result: SubmitCallback) -> None:
        """`SubmitsEach`: the parts go to the session together (`SmppSession.submit_each`: no future, no
        coroutine, no extra loop iteration per part)."""
        loop = asyncio.get_running_loop()
        if self._session is None:
            for index in range(len(parts)):
                loop.call_soon(on_result, index, SubmitResult(None, error="carrier not started", retry=True))
            return
        encoded: list[tuple[int, bytes]] = []
        for index, part in enumerate(parts):
            try:
                encoded.append((index, self._encoded(part)))
            except Exception as exc:
                loop.call_soon(on_result, index, SubmitResult(None, error=str(exc), retry=True))

        def answered(index: int, outcome: SubmitOutcome | BaseException) -> None:
            if isinstance(outcome, SubmitOutcome):
                on_result(index, _result(outcome))
            elif isinstance(outcome, asyncio.CancelledError):
                on_result(index, SubmitResult(None, error="cancelled", retry=True))
            else:
                on_result(index, SubmitResult(None, error=str(outcome), retry=True))

        try:
            self._session.submit_each(encoded, answered)
        except Exception as exc:
            for index, _ in encoded:
                loop.call_soon(on_result, index, SubmitResult(None, error=str(exc), retry=True))

    def _pdu(self, part: OutboundPart) -> SubmitSm:
        return build_submit_part(**self._submit_fields(part))

    def _encoded(self, part: OutboundPart) -> bytes:
        """``encode_submit_part(self._submit_fields(part))``, from a template cached on the part's fields."""
        template = _template(
            part.sender, part.data_coding, part.payload, part.part, part.parts,
            part.ref if part.parts > 1 else 0,  # not sent in a single part: one template serves them all
            part.flash, part.validity_minutes, self.concat,
        )  # fmt: skip
        return with_destination(template, part.to)

    def _submit_fields(self, part: OutboundPart) -> SubmitFields:
        return _fields(
            part.sender, part.data_coding, part.payload, part.part, part.parts, part.ref, part.flash,
            part.validity_minutes, self.concat, part.to,
        )  # fmt: skip

    def abandon_queued(self) -> int:
        """Drop the parts not handed to the SMSC yet (`SmppSession.abandon_queued`)."""
        return self._session.abandon_queued() if self._session is not None else 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _result(outcome: SubmitOutcome) -> SubmitResult:
    if outcome.ok and outcome.message_id:
        return SubmitResult(carrier_id(outcome.message_id))
    status = outcome.command_status
    return SubmitResult(None, error=f"command_status 0x{status:08X}", retry=status in _TRANSIENT)


def _fields(
    sender: str, data_coding: int, payload: bytes, seqnum: int, total: int, ref: int, flash: bool,
    validity_minutes: int | None, concat: Literal["udh", "sar"], destination_addr: str = "",
) -> SubmitFields:  # fmt: skip
    return SubmitFields(
        source_addr=sender,
        destination_addr=destination_addr,
        data_coding=data_coding,
        payload=payload,
        seqnum=seqnum,
        total=total,
        flash=flash,
        registered_delivery=1,
        validity_period=relative_validity_period(validity_minutes) if validity_minutes else "",
        concat=concat,
        ref=ref,
    )


@functools.lru_cache(maxsize=4096)
def _template(
    sender: str, data_coding: int, payload: bytes, seqnum: int, total: int, ref: int, flash: bool,
    validity_minutes: int | None, concat: Literal["udh", "sar"],
) -> tuple[bytes, bytes]:  # fmt: skip
    """The submit_sm template of a part: what varies between the parts of a campaign (the destination)
    left out, and the reference too when the part is the whole message."""
    return submit_template(
        _fields(sender, data_coding, payload, seqnum, total, ref, flash, validity_minutes, concat)
    )
