"""Optional parameters (TLVs): a PDU keeps them as ``dict[int, bytes]`` (tag → raw value).

Values stay raw bytes so unknown tags survive a decode/encode round trip; these helpers convert the few
value shapes SMPP 3.4 uses. Encoding helpers raise `ValueError` for values that do not fit (the pdu module
turns that into `PduError`); the lookup helpers never raise: a missing or malformed value reads as ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_TLV_HEADER = struct.Struct(">HH")


def int_value(value: int, size: int) -> bytes:
    """Encode an unsigned integer TLV value of ``size`` octets (1, 2 or 4); ValueError if out of range."""
    if size not in (1, 2, 4) or not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{value} does not fit an unsigned {size}-octet TLV value")
    return value.to_bytes(size, "big")


def cstring_value(value: str) -> bytes:
    """Encode a C-Octet String TLV value (latin-1, NUL terminated); ValueError on NUL or non-latin-1."""
    if "\x00" in value:
        raise ValueError("a C-Octet String cannot contain NUL")
    return value.encode("latin-1") + b"\x00"


def get_int(tlvs: Mapping[int, bytes], tag: int) -> int | None:
    """Return the unsigned integer value of ``tag``; None when absent or not 1, 2 or 4 octets long."""
    raw = tlvs.get(tag)
    if raw is None or len(raw) not in (1, 2, 4):
        return None
    return int.from_bytes(raw, "big")


def get_cstring(tlvs: Mapping[int, bytes], tag: int) -> str | None:
    """Return the C-Octet String value of ``tag`` (NUL terminator optional, latin-1); None when absent."""
    raw = tlvs.get(tag)
    if raw is None:
        return None
    end = raw.find(b"\x00")
    return (raw if end < 0 else raw[:end]).decode("latin-1")


def encode_tlvs(tlvs: Mapping[int, bytes]) -> bytes:
    """Serialise TLVs in insertion order; ValueError when a tag or a value length exceeds 16 bits."""
    if not tlvs:
        return b""
    out = []
    for tag, value in tlvs.items():
        if not 0 <= tag <= 0xFFFF or len(value) > 0xFFFF:
            raise ValueError(f"TLV 0x{tag:04X} does not fit (tag or length over 16 bits)")
        out.append(_TLV_HEADER.pack(tag, len(value)))
        out.append(bytes(value))
    return b"".join(out)


def decode_tlvs(data: bytes, pos: int) -> dict[int, bytes]:
    """Parse TLVs from ``data[pos:]`` to its end; ValueError on a truncated header or value.

    When a tag repeats, the last occurrence wins.
    """
    tlvs: dict[int, bytes] = {}
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise ValueError("truncated TLV header")
        tag, length = _TLV_HEADER.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise ValueError(f"TLV 0x{tag:04X} runs past the end of the PDU")
        tlvs[tag] = data[pos : pos + length]
        pos += length
    return tlvs
