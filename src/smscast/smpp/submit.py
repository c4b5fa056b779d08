"""Build the submit_sm PDUs for one message whose text is already encoded and split into parts.

The text engine (domain) owns encoding and segmentation; this module only applies SMPP framing rules:
addressing (TON/NPI), concatenation (UDH or SAR TLVs), flash class 0, receipts and validity.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, TypedDict, cast

from smscast.smpp import constants as c
from smscast.smpp.pdu import PduError, SubmitSm
from smscast.smpp.tlv import int_value

_FLASH_DATA_CODING = {
    c.DATA_CODING_DEFAULT: c.DATA_CODING_GSM_FLASH,
    c.DATA_CODING_UCS2: c.DATA_CODING_UCS2_FLASH,
}
_MAX_SHORT_MESSAGE = 254


def source_ton_npi(source_addr: str) -> tuple[str, int, int]:
    """Return ``(address, ton, npi)`` for a sender: digits (optionally with a leading '+', which is
    dropped) are international/ISDN (1, 1); anything else is alphanumeric (5, 0)."""
    digits = source_addr.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        return digits, c.TON_INTERNATIONAL, c.NPI_ISDN
    return source_addr, c.TON_ALPHANUMERIC, c.NPI_UNKNOWN


def build_submit_sms(
    *,
    source_addr: str,
    destination_addr: str,
    data_coding: int,
    parts: Sequence[bytes],
    flash: bool = False,
    registered_delivery: int = 1,
    validity_period: str = "",
    concat: Literal["udh", "sar"] = "udh",
    ref: int,
) -> list[SubmitSm]:
    """Return one SubmitSm per part, in order, with sequence_number left at 0 for the session to assign.

    - ``parts``: the encoded payloads without UDH (GSM 03.38 unpacked septets one per octet, or UCS-2 BE).
    - More than one part: ``concat="udh"`` sets esm_class UDHI (0x40) and prepends ``05 00 03 ref total
      seq`` (``ref & 0xFF``); ``concat="sar"`` adds the sar_msg_ref_num (``ref & 0xFFFF``),
      sar_total_segments and sar_segment_seqnum TLVs. A single part gets neither.
    - ``flash``: data_coding 0x00 becomes 0x10 and 0x08 becomes 0x18 (message class 0).
    - Destination: a leading '+' is dropped; TON 1 / NPI 1. Source: see `source_ton_npi`.

    Raises ValueError when ``parts`` is empty or has more than 255 items, when a part plus its UDH exceeds
    254 octets, or when ``flash`` is asked for a data_coding other than 0x00 or 0x08.
    """
    total = len(parts)
    if not 1 <= total <= 255:
        raise ValueError(f"a message has 1 to 255 parts, not {total}")
    return [
        build_submit_part(
            source_addr=source_addr,
            destination_addr=destination_addr,
            data_coding=data_coding,
            payload=part,
            seqnum=seqnum,
            total=total,
            flash=flash,
            registered_delivery=registered_delivery,
            validity_period=validity_period,
            concat=concat,
            ref=ref,
        )
        for seqnum, part in enumerate(parts, start=1)
    ]


def build_submit_part(
    *,
    source_addr: str,
    destination_addr: str,
    data_coding: int,
    payload: bytes,
    seqnum: int,
    total: int,
    flash: bool = False,
    registered_delivery: int = 1,
    validity_period: str = "",
    concat: Literal["udh", "sar"] = "udh",
    ref: int,
) -> SubmitSm:
    """The SubmitSm of part ``seqnum`` (1-based) of a ``total``-part message: what `build_submit_sms`
    returns at that position, for a sender that hands parts over one at a time (same rules, same errors;
    also ValueError when ``seqnum`` is not within 1..total)."""
    if not 1 <= total <= 255:
        raise ValueError(f"a message has 1 to 255 parts, not {total}")
    if not 1 <= seqnum <= total:
        raise ValueError(f"part {seqnum} of {total} does not exist")
    if flash:
        if data_coding not in _FLASH_DATA_CODING:
            raise ValueError(f"flash needs data_coding 0x00 or 0x08, not 0x{data_coding:02X}")
        data_coding = _FLASH_DATA_CODING[data_coding]
    source, source_ton, source_npi = source_ton_npi(source_addr)
    concatenated = total > 1
    use_udh = concatenated and concat == "udh"
    short_message = bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seqnum)) + payload if use_udh else payload
    if len(short_message) > _MAX_SHORT_MESSAGE:
        raise ValueError(f"part {seqnum} is {len(short_message)} octets with its UDH, over 254")
    tlvs: dict[int, bytes] = {}
    if concatenated and not use_udh:
        tlvs = {
            c.TAG_SAR_MSG_REF_NUM: int_value(ref & 0xFFFF, 2),
            c.TAG_SAR_TOTAL_SEGMENTS: int_value(total, 1),
            c.TAG_SAR_SEGMENT_SEQNUM: int_value(seqnum, 1),
        }
    return SubmitSm(
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source,
        dest_addr_ton=c.TON_INTERNATIONAL,
        dest_addr_npi=c.NPI_ISDN,
        destination_addr=destination_addr.removeprefix("+"),
        esm_class=c.ESM_CLASS_UDHI if use_udh else 0,
        validity_period=validity_period,
        registered_delivery=registered_delivery,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


_HEADER = struct.Struct(">IIII")


class SubmitFields(TypedDict):
    """Every argument of `build_submit_part`, as one value (what a carrier builds per part)."""

    source_addr: str
    destination_addr: str
    data_coding: int
    payload: bytes
    seqnum: int
    total: int
    flash: bool
    registered_delivery: int
    validity_period: str
    concat: Literal["udh", "sar"]
    ref: int


def encode_submit_part(fields: SubmitFields) -> bytes:
    """``build_submit_part(**fields).encode()`` with sequence_number 0, byte for byte (the same errors too,
    the encoding's as `PduError`), from a cached template of everything but the destination: the parts of a
    campaign differ only there, and building and encoding a PDU object per part showed in profiles."""
    # The reference is not sent in a single-part message: one template serves all of them.
    shape = {**fields, "destination_addr": "", "ref": fields["ref"] if fields["total"] > 1 else 0}
    return with_destination(_template(tuple(shape.items())), fields["destination_addr"])


def submit_template(fields: SubmitFields) -> tuple[bytes, bytes]:
    """The encoded body of ``build_submit_part(**fields)`` before and after its destination address (which
    is ignored), for `with_destination`; raises what building and encoding that PDU raise."""
    shape: SubmitFields = {**fields, "destination_addr": ""}
    pdu = build_submit_part(**shape)
    body = pdu.encode()[_HEADER.size :]
    # service_type, NUL, source TON and NPI, source_addr, NUL, destination TON and NPI; then the
    # destination's NUL (an empty destination here) and everything after it.
    at = len(pdu.service_type.encode("latin-1")) + 3 + len(pdu.source_addr.encode("latin-1")) + 3
    return body[:at], body[at + 1 :]


def with_destination(template: tuple[bytes, bytes], destination_addr: str) -> bytes:
    """The whole submit_sm (sequence_number 0) of a `submit_template` sent to ``destination_addr``."""
    head, tail = template
    destination = destination_addr.removeprefix("+").encode("latin-1")
    if len(destination) > 20 or b"\0" in destination:
        raise PduError("destination_addr is longer than 20 octets or contains NUL")
    length = _HEADER.size + len(head) + len(destination) + 1 + len(tail)
    return b"".join((_HEADER.pack(length, c.SUBMIT_SM, 0, 0), head, destination, b"\0", tail))


@lru_cache(maxsize=4096)
def _template(shape: tuple[tuple[str, Any], ...]) -> tuple[bytes, bytes]:
    return submit_template(cast(SubmitFields, dict(shape)))


def relative_validity_period(minutes: int) -> str:
    """Return the SMPP relative time ``YYMMDDhhmmss000R`` for ``minutes`` from submission.

    Expressed in days, hours and minutes (years and months stay 00 so the value is exact). Raises
    ValueError for less than 1 minute or more than 99 days.
    """
    if not 1 <= minutes <= 99 * 1440:
        raise ValueError(f"validity of {minutes} minutes is outside 1 minute .. 99 days")
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{mins:02d}00000R"
