"""Fast paths for the PDUs of a campaign's steady state: submit_sm_resp and deliver_sm in, deliver_sm_resp
out.

Contract: `FastPduReader` returns exactly what `pdu.PduReader` returns for the same stream (the same PDUs,
the same raw frames for undecodable ones, the same framing errors). It only takes a shorter road for the
two PDUs that arrive once per message, and hands everything else, and anything unusual about those two
(a time field set, a length out of place), to `decode_pdu`. With ``receipts=True`` it reads a deliver_sm
that takes the shorter road straight into a `ReceiptSm` (``receipts.receipt_report`` of the DeliverSm
that `decode_pdu` returns), for a session that only wants receipts. `deliver_sm_resp` is ``DeliverSmResp("",
status, sequence_number).encode()`` byte for byte. The tests prove both against the general code on
generated input.
"""

from __future__ import annotations

import struct

from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm, Pdu, PduError, SubmitSmResp, decode_pdu
from smscast.smpp.receipts import report_of

_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")
_TLV_HEADER = struct.Struct(">HH")
_RESP_OK = struct.Struct(">IIIIx")  # deliver_sm_resp with an empty message_id: its NUL is the whole body
_SUBMIT_SM_RESP, _DELIVER_SM, _MAX = c.SUBMIT_SM_RESP, c.DELIVER_SM, c.MAX_PDU_LENGTH


class ReceiptSm:
    """A deliver_sm as `FastPduReader` with ``receipts=True`` reads it: its sequence_number and its
    ``receipts.receipt_report`` (None when it is not a receipt)."""

    __slots__ = ("report", "sequence_number")
    command_id = c.DELIVER_SM

    def __init__(self, sequence_number: int, report: tuple[str, str, str] | None) -> None:
        self.sequence_number, self.report = sequence_number, report

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReceiptSm):
            return NotImplemented
        return (self.sequence_number, self.report) == (other.sequence_number, other.report)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReceiptSm({self.sequence_number!r}, {self.report!r})"


class FastPduReader:
    """`pdu.PduReader` (same contract, same results), decoding submit_sm_resp and plain deliver_sm in place
    in the read buffer rather than through `decode_pdu`; with ``receipts``, such a deliver_sm comes as a
    `ReceiptSm`."""

    __slots__ = ("_buffer", "_failed", "_receipts")

    def __init__(self, receipts: bool = False) -> None:
        self._buffer = b""
        self._failed = False
        self._receipts = receipts

    def feed(self, data: bytes) -> list[Pdu | ReceiptSm | bytes]:
        if self._failed:
            raise PduError("stream is out of sync after an earlier framing error")
        buf = self._buffer + data if self._buffer else bytes(data)
        out: list[Pdu | ReceiptSm | bytes] = []
        append = out.append
        deliver_sm = _receipt if self._receipts else _deliver_sm
        pos, end = 0, len(buf)
        while end - pos >= 16:
            length, command_id, status, sequence_number = _HEADER.unpack_from(buf, pos)
            if length < 16 or length > _MAX:
                return self._out_of_sync(length)
            stop = pos + length
            if stop > end:
                break
            if command_id == _SUBMIT_SM_RESP:
                nul = buf.find(b"\x00", pos + 16, stop)
                message_id = buf[pos + 16 : nul if nul >= 0 else stop].decode("latin-1")
                append(SubmitSmResp(message_id, status, sequence_number))
            else:
                deliver = deliver_sm(buf, pos, stop, sequence_number) if command_id == _DELIVER_SM else None
                if deliver is not None:
                    append(deliver)
                else:
                    frame = buf[pos:stop]
                    try:
                        append(decode_pdu(frame))
                    except PduError:
                        append(frame)
            pos = stop
        if end - pos >= 4:  # PduReader refuses a bad command_length as soon as its 4 octets are in
            (length,) = _LENGTH.unpack_from(buf, pos)
            if length < 16 or length > _MAX:
                return self._out_of_sync(length)
        self._buffer = buf[pos:]
        return out

    def _out_of_sync(self, length: int) -> list[Pdu | ReceiptSm | bytes]:
        self._failed = True
        self._buffer = b""
        raise PduError(f"command_length {length} is outside 16..{_MAX}")

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete PDU."""
        return len(self._buffer)


def _deliver_sm(buf: bytes, pos: int, stop: int, sequence_number: int) -> DeliverSm | None:
    """The deliver_sm in ``buf[pos:stop]`` (a whole, well-framed PDU), or None to let `decode_pdu` decide:
    when either time field is set, or anything is out of place."""
    layout = _layout(buf, pos, stop)
    if layout is None:
        return None
    source, destination, flags, tlvs = layout
    start = flags + 10
    return DeliverSm(
        buf[pos + 16 : source - 1].decode("latin-1"), buf[source], buf[source + 1],
        buf[source + 2 : destination - 1].decode("latin-1"), buf[destination], buf[destination + 1],
        buf[destination + 2 : flags - 1].decode("latin-1"), buf[flags], buf[flags + 1], buf[flags + 2],
        "", "", buf[flags + 5], buf[flags + 6], buf[flags + 7], buf[flags + 8],
        buf[start : start + buf[flags + 9]], tlvs, sequence_number,
    )  # fmt: skip


def _receipt(buf: bytes, pos: int, stop: int, sequence_number: int) -> ReceiptSm | None:
    """`_deliver_sm`, read straight into its `ReceiptSm`."""
    layout = _layout(buf, pos, stop)
    if layout is None:
        return None
    flags, tlvs = layout[2], layout[3]
    short_message = buf[flags + 10 : flags + 10 + buf[flags + 9]]
    return ReceiptSm(sequence_number, report_of(buf[flags], short_message, tlvs))


def _layout(buf: bytes, pos: int, stop: int) -> tuple[int, int, int, dict[int, bytes]] | None:
    """Where the source address, the destination address and the flags after it start, and the TLVs, of
    the deliver_sm in ``buf[pos:stop]``; None when a time field is set or anything is out of place."""
    source = buf.find(b"\x00", pos + 16, stop) + 1  # past service_type: source TON, NPI and address
    if not source:
        return None
    destination = buf.find(b"\x00", source + 2, stop) + 1  # past source_addr: destination TON, NPI, address
    if not destination:
        return None
    flags = buf.find(b"\x00", destination + 2, stop) + 1  # past destination_addr
    if not flags:
        return None
    # esm_class, protocol_id, priority_flag; two empty times (two NULs); registered_delivery,
    # replace_if_present_flag, data_coding, sm_default_msg_id, sm_length.
    start = flags + 10
    if start > stop or buf[flags + 3] or buf[flags + 4]:
        return None
    at = start + buf[flags + 9]  # the end of short_message: the TLVs follow
    if at > stop:
        return None
    tlvs: dict[int, bytes] = {}
    while at < stop:
        if stop - at < 4:
            return None
        tag, size = _TLV_HEADER.unpack_from(buf, at)
        at += 4
        if at + size > stop:
            return None
        tlvs[tag] = buf[at : at + size]
        at += size
    return source, destination, flags, tlvs


def deliver_sm_resp(status: int, sequence_number: int) -> bytes:
    """``DeliverSmResp("", status, sequence_number).encode()``: header only when refused, else with the
    empty message_id's NUL. Raises `PduError` when a value does not fit its header field."""
    try:
        if status:
            return _HEADER.pack(16, c.DELIVER_SM_RESP, status, sequence_number)
        return _RESP_OK.pack(17, c.DELIVER_SM_RESP, 0, sequence_number)
    except struct.error as exc:
        raise PduError(f"header field out of range: {exc}") from exc
