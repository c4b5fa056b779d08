"""SMPP 3.4 PDUs as plain dataclasses, their wire encoding, and a stream framer.

Contract:
- every PDU class has ``sequence_number``, a ``command_id`` class constant and a pure ``encode() -> bytes``
  that returns the whole PDU (header included). ``encode`` raises `PduError` for values the wire format
  cannot carry (a string with NUL or non-latin-1 characters, a string over its spec length, an integer out
  of its octet range, a short_message over 254 octets). Responses and generic_nack also carry
  ``command_status``; requests are always encoded with command_status 0.
- `decode_pdu` takes exactly one PDU (header included) and returns the matching dataclass, or
  `UnknownPdu` for a well-framed PDU whose command_id this module does not model. Any malformed input
  raises `PduError` (a ValueError) and nothing else.
- C-Octet Strings are read and written as latin-1 so that any byte sequence survives a round trip.
- Decoding is lenient where real SMSCs are sloppy and nothing is lost by it: trailing bytes after a
  header-only PDU are ignored, a response body may be empty (the spec omits it when command_status != 0),
  an unterminated message_id in a ``*_resp`` runs to the end of the PDU. String lengths are only checked
  when encoding.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias, TypeVar

from smscast.smpp import constants as c
from smscast.smpp.tlv import decode_tlvs, encode_tlvs


class PduError(ValueError):
    """Bytes that are not a valid SMPP 3.4 PDU, or a PDU whose fields cannot be encoded."""


_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")


_T = TypeVar("_T")


def _checked(encode: Callable[[_T], bytes]) -> Callable[[_T], bytes]:
    """Turn any failure of an ``encode`` method into PduError (its documented and only error)."""

    @functools.wraps(encode)
    def wrapper(self: _T) -> bytes:
        try:
            return encode(self)
        except PduError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, struct.error) as exc:
            raise PduError(f"cannot encode {type(self).__name__}: {exc}") from exc

    return wrapper


def _cstr(value: str, max_octets: int) -> bytes:
    """Encode a C-Octet String whose spec size (NUL included) is ``max_octets``."""
    raw = value.encode("latin-1")
    if len(raw) >= max_octets or b"\x00" in raw:
        raise PduError(f"C-Octet String {value!r} is longer than {max_octets - 1} octets or contains NUL")
    return raw + b"\x00"


def _time(value: str) -> bytes:
    if value and len(value) != 16:
        raise PduError(f"SMPP time {value!r} must be empty or 16 characters")
    return _cstr(value, 17)


def _frame(command_id: int, command_status: int, sequence_number: int, body: bytes = b"") -> bytes:
    try:
        return _HEADER.pack(c.HEADER_LENGTH + len(body), command_id, command_status, sequence_number) + body
    except struct.error as exc:
        raise PduError(f"header field out of range: {exc}") from exc


def _read_cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise PduError("unterminated C-Octet String")
    return data[pos:end].decode("latin-1"), end + 1


def _read_message_id(data: bytes) -> str:
    end = data.find(b"\x00", c.HEADER_LENGTH)
    return data[c.HEADER_LENGTH : end if end >= 0 else len(data)].decode("latin-1")


# --- bind ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Bind:
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = c.INTERFACE_VERSION_34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    sequence_number: int = 0
    command_id: ClassVar[int]
    command_status: ClassVar[int] = c.ESME_ROK  # requests never carry a status

    @_checked
    def encode(self) -> bytes:
        body = b"".join((
            _cstr(self.system_id, 16), _cstr(self.password, 9), _cstr(self.system_type, 13),
            bytes((self.interface_version, self.addr_ton, self.addr_npi)), _cstr(self.address_range, 41),
        ))  # fmt: skip
        return _frame(self.command_id, 0, self.sequence_number, body)


@dataclass(slots=True)
class BindTransmitter(_Bind):
    command_id: ClassVar[int] = c.BIND_TRANSMITTER


@dataclass(slots=True)
class BindReceiver(_Bind):
    command_id: ClassVar[int] = c.BIND_RECEIVER


@dataclass(slots=True)
class BindTransceiver(_Bind):
    command_id: ClassVar[int] = c.BIND_TRANSCEIVER


@dataclass(slots=True)
class _BindResp:
    system_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)
    command_status: int = c.ESME_ROK
    sequence_number: int = 0
    command_id: ClassVar[int]

    @_checked
    def encode(self) -> bytes:
        if self.command_status and not self.system_id and not self.tlvs:
            return _frame(self.command_id, self.command_status, self.sequence_number)
        body = _cstr(self.system_id, 16) + encode_tlvs(self.tlvs)
        return _frame(self.command_id, self.command_status, self.sequence_number, body)


@dataclass(slots=True)
class BindTransmitterResp(_BindResp):
    command_id: ClassVar[int] = c.BIND_TRANSMITTER_RESP


@dataclass(slots=True)
class BindReceiverResp(_BindResp):
    command_id: ClassVar[int] = c.BIND_RECEIVER_RESP


@dataclass(slots=True)
class BindTransceiverResp(_BindResp):
    command_id: ClassVar[int] = c.BIND_TRANSCEIVER_RESP


# --- header-only PDUs ---------------------------------------------------------------------------
@dataclass(slots=True)
class _HeaderOnlyRequest:
    sequence_number: int = 0
    command_id: ClassVar[int]
    command_status: ClassVar[int] = c.ESME_ROK  # requests never carry a status

    @_checked
    def encode(self) -> bytes:
        return _frame(self.command_id, 0, self.sequence_number)


@dataclass(slots=True)
class _HeaderOnlyResponse:
    command_status: int = c.ESME_ROK
    sequence_number: int = 0
    command_id: ClassVar[int]

    @_checked
    def encode(self) -> bytes:
        return _frame(self.command_id, self.command_status, self.sequence_number)


@dataclass(slots=True)
class Unbind(_HeaderOnlyRequest):
    command_id: ClassVar[int] = c.UNBIND


@dataclass(slots=True)
class UnbindResp(_HeaderOnlyResponse):
    command_id: ClassVar[int] = c.UNBIND_RESP


@dataclass(slots=True)
class EnquireLink(_HeaderOnlyRequest):
    command_id: ClassVar[int] = c.ENQUIRE_LINK


@dataclass(slots=True)
class EnquireLinkResp(_HeaderOnlyResponse):
    command_id: ClassVar[int] = c.ENQUIRE_LINK_RESP


@dataclass(slots=True)
class GenericNack(_HeaderOnlyResponse):
    command_id: ClassVar[int] = c.GENERIC_NACK


# --- submit_sm / deliver_sm ---------------------------------------------------------------------
@dataclass(slots=True)
class _ShortMessage:
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)
    sequence_number: int = 0
    command_id: ClassVar[int]
    command_status: ClassVar[int] = c.ESME_ROK  # requests never carry a status

    @_checked
    def encode(self) -> bytes:
        sm = self.short_message
        # The hot path of every campaign: one latin-1 encode for all five C-Octet Strings (a NUL inside a
        # field shows up as an extra item) and one %-format for the body.
        strings = (self.service_type, self.source_addr, self.destination_addr)
        times = (self.schedule_delivery_time, self.validity_period)
        fields = "\0".join(strings + times).encode("latin-1").split(b"\0")
        if len(fields) != 5:
            raise PduError("a C-Octet String field contains NUL")
        service_type, source_addr, destination_addr, schedule_delivery_time, validity_period = fields
        if len(service_type) > 5 or len(source_addr) > 20 or len(destination_addr) > 20:
            raise PduError("service_type (5), source_addr (20) or destination_addr (20) is too long")
        if len(schedule_delivery_time) not in (0, 16) or len(validity_period) not in (0, 16):
            raise PduError("schedule_delivery_time and validity_period must be empty or 16 characters")
        if len(sm) > 254:
            raise PduError(f"short_message is {len(sm)} octets, over 254 (use message_payload)")
        body = b"%s\0%c%c%s\0%c%c%s\0%c%c%c%s\0%s\0%c%c%c%c%c%s" % (
            service_type, self.source_addr_ton, self.source_addr_npi, source_addr,
            self.dest_addr_ton, self.dest_addr_npi, destination_addr,
            self.esm_class, self.protocol_id, self.priority_flag, schedule_delivery_time, validity_period,
            self.registered_delivery, self.replace_if_present_flag, self.data_coding, self.sm_default_msg_id,
            len(sm), sm,
        )  # fmt: skip
        if self.tlvs:
            body += encode_tlvs(self.tlvs)
        return _frame(self.command_id, 0, self.sequence_number, body)


@dataclass(slots=True)
class SubmitSm(_ShortMessage):
    command_id: ClassVar[int] = c.SUBMIT_SM


@dataclass(slots=True)
class DeliverSm(_ShortMessage):
    command_id: ClassVar[int] = c.DELIVER_SM


@dataclass(slots=True)
class _MessageIdResp:
    message_id: str = ""
    command_status: int = c.ESME_ROK
    sequence_number: int = 0
    command_id: ClassVar[int]

    @_checked
    def encode(self) -> bytes:
        if self.command_status and not self.message_id:
            return _frame(self.command_id, self.command_status, self.sequence_number)
        body = _cstr(self.message_id, 65)
        return _frame(self.command_id, self.command_status, self.sequence_number, body)


@dataclass(slots=True)
class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[int] = c.SUBMIT_SM_RESP


@dataclass(slots=True)
class DeliverSmResp(_MessageIdResp):
    command_id: ClassVar[int] = c.DELIVER_SM_RESP


@dataclass(slots=True)
class UnknownPdu:
    """A well-framed PDU whose command_id is not modelled here; ``body`` is everything after the header."""

    command_id: int = 0
    command_status: int = c.ESME_ROK
    sequence_number: int = 0
    body: bytes = b""

    @_checked
    def encode(self) -> bytes:
        return _frame(self.command_id, self.command_status, self.sequence_number, self.body)


Pdu: TypeAlias = (
    BindTransmitter | BindReceiver | BindTransceiver | BindTransmitterResp | BindReceiverResp
    | BindTransceiverResp | Unbind | UnbindResp | EnquireLink | EnquireLinkResp | GenericNack
    | SubmitSm | SubmitSmResp | DeliverSm | DeliverSmResp | UnknownPdu
)  # fmt: skip


# --- decoding -----------------------------------------------------------------------------------
def _decode_bind(cls: type[_Bind]) -> Callable[[bytes, int, int], Pdu]:
    def decode(data: bytes, _status: int, seq: int) -> Pdu:
        system_id, pos = _read_cstr(data, c.HEADER_LENGTH)
        password, pos = _read_cstr(data, pos)
        system_type, pos = _read_cstr(data, pos)
        interface_version, addr_ton, addr_npi = data[pos : pos + 3]
        address_range, _ = _read_cstr(data, pos + 3)
        return cls(
            system_id, password, system_type, interface_version, addr_ton, addr_npi, address_range, seq
        )  # type: ignore[return-value]

    return decode


def _decode_bind_resp(cls: type[_BindResp]) -> Callable[[bytes, int, int], Pdu]:
    def decode(data: bytes, status: int, seq: int) -> Pdu:
        if len(data) == c.HEADER_LENGTH:
            return cls("", {}, status, seq)  # type: ignore[return-value]
        system_id, pos = _read_cstr(data, c.HEADER_LENGTH)
        return cls(system_id, decode_tlvs(data, pos), status, seq)  # type: ignore[return-value]

    return decode


def _decode_short_message(cls: type[_ShortMessage]) -> Callable[[bytes, int, int], Pdu]:
    def decode(data: bytes, _status: int, seq: int) -> Pdu:
        service_type, pos = _read_cstr(data, c.HEADER_LENGTH)
        source_addr_ton, source_addr_npi = data[pos : pos + 2]
        source_addr, pos = _read_cstr(data, pos + 2)
        dest_addr_ton, dest_addr_npi = data[pos : pos + 2]
        destination_addr, pos = _read_cstr(data, pos + 2)
        esm_class, protocol_id, priority_flag = data[pos : pos + 3]
        schedule_delivery_time, pos = _read_cstr(data, pos + 3)
        validity_period, pos = _read_cstr(data, pos)
        registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length = data[
            pos : pos + 5
        ]
        pos += 5
        short_message = data[pos : pos + sm_length]
        if len(short_message) != sm_length:
            raise PduError("short_message runs past the end of the PDU")
        tlvs = decode_tlvs(data, pos + sm_length)
        return cls(  # type: ignore[return-value]
            service_type, source_addr_ton, source_addr_npi, source_addr,
            dest_addr_ton, dest_addr_npi, destination_addr, esm_class, protocol_id, priority_flag,
            schedule_delivery_time, validity_period, registered_delivery, replace_if_present_flag,
            data_coding, sm_default_msg_id, short_message, tlvs, seq,
        )  # fmt: skip

    return decode


_DECODERS: dict[int, Callable[[bytes, int, int], Pdu]] = {
    c.BIND_TRANSMITTER: _decode_bind(BindTransmitter),
    c.BIND_RECEIVER: _decode_bind(BindReceiver),
    c.BIND_TRANSCEIVER: _decode_bind(BindTransceiver),
    c.BIND_TRANSMITTER_RESP: _decode_bind_resp(BindTransmitterResp),
    c.BIND_RECEIVER_RESP: _decode_bind_resp(BindReceiverResp),
    c.BIND_TRANSCEIVER_RESP: _decode_bind_resp(BindTransceiverResp),
    c.UNBIND: lambda _d, _s, seq: Unbind(seq),
    c.UNBIND_RESP: lambda _d, status, seq: UnbindResp(status, seq),
    c.ENQUIRE_LINK: lambda _d, _s, seq: EnquireLink(seq),
    c.ENQUIRE_LINK_RESP: lambda _d, status, seq: EnquireLinkResp(status, seq),
    c.GENERIC_NACK: lambda _d, status, seq: GenericNack(status, seq),
    c.SUBMIT_SM: _decode_short_message(SubmitSm),
    c.SUBMIT_SM_RESP: lambda data, status, seq: SubmitSmResp(_read_message_id(data), status, seq),
    c.DELIVER_SM: _decode_short_message(DeliverSm),
    c.DELIVER_SM_RESP: lambda data, status, seq: DeliverSmResp(_read_message_id(data), status, seq),
}


def decode_pdu(data: bytes) -> Pdu:
    """Decode exactly one PDU (header included). Raises `PduError`, and only that, on malformed input."""
    data = bytes(data)
    if len(data) < c.HEADER_LENGTH:
        raise PduError(f"{len(data)} octets is shorter than a PDU header")
    command_length, command_id, command_status, sequence_number = _HEADER.unpack_from(data)
    if command_length != len(data):
        raise PduError(f"command_length {command_length} but {len(data)} octets given")
    if command_length > c.MAX_PDU_LENGTH:
        raise PduError(f"command_length {command_length} exceeds {c.MAX_PDU_LENGTH}")
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        return UnknownPdu(command_id, command_status, sequence_number, data[c.HEADER_LENGTH :])
    try:
        return decoder(data, command_status, sequence_number)
    except PduError:
        raise
    except (ValueError, IndexError, TypeError, struct.error) as exc:
        raise PduError(f"malformed PDU 0x{command_id:08X}: {exc}") from exc


class PduReader:
    """Incremental framer for a byte stream (one per connection).

    `feed` accepts any chunking of the stream and returns, in order, one item per complete PDU: the
    decoded PDU, or the raw frame as ``bytes`` when its length is sane but its body does not decode (the
    caller can still read the header from it, e.g. to answer generic_nack). A command_length below 16 or
    above 64 KiB is a framing error: `feed` raises `PduError` and the stream cannot be resynchronised (the
    connection must be dropped); later calls raise again.
    """

    __slots__ = ("_buffer", "_failed")

    def __init__(self) -> None:
        self._buffer = b""
        self._failed = False

    def feed(self, data: bytes) -> list[Pdu | bytes]:
        if self._failed:
            raise PduError("stream is out of sync after an earlier framing error")
        buf = self._buffer + data if self._buffer else bytes(data)
        out: list[Pdu | bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 4:
            (length,) = _LENGTH.unpack_from(buf, pos)
            if length < c.HEADER_LENGTH or length > c.MAX_PDU_LENGTH:
                self._failed = True
                self._buffer = b""
                raise PduError(f"command_length {length} is outside 16..{c.MAX_PDU_LENGTH}")
            if end - pos < length:
                break
            frame = buf[pos : pos + length]
            pos += length
            try:
                out.append(decode_pdu(frame))
            except PduError:
                out.append(frame)
        self._buffer = buf[pos:]
        return out

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete PDU."""
        return len(self._buffer)
