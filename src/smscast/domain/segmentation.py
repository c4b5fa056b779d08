"""How a message body is split into SMS parts, and the body analysis of API §3.1.

Rules (3GPP TS 23.038 / 23.040 as carriers apply them):

- The body is GSM 7-bit when every character is in the GSM 03.38 basic or extension table, else UCS-2.
- It is one part when it fits 160 septets (GSM) or 70 UTF-16 units (UCS-2). Otherwise every part holds at
  most 153 septets / 67 units (the rest of the 140 octets is the concatenation UDH), filled greedily.
- An escape pair (extension character, 2 septets) and a surrogate pair (astral character, 2 units) are never
  split: if it does not fit, it starts the next part. So a body can need more than ``ceil(len / 153)`` parts,
  and the part count is what carriers bill.
- The empty body is one (empty) part of 0 characters.

The hot path (``count_parts`` once per recipient of a campaign) uses C-level string operations only; the
per-part walk runs only for multipart bodies that contain extension or astral characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from smscast.domain.encoding import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    ESCAPE,
    GSM_EXTENSION,
    count_extension,
    encode_gsm,
    find_non_gsm,
    non_gsm_characters,
    utf16_units,
)
from smscast.domain.transcoding import transcode

__all__ = [
    "GSM_MULTI_PART",
    "GSM_SINGLE_PART",
    "UCS2_MULTI_PART",
    "UCS2_SINGLE_PART",
    "BodyAnalysis",
    "analyse",
    "characters",
    "count_parts",
    "encode_parts",
    "segment",
]

GSM_SINGLE_PART: Final = 160  # septets
GSM_MULTI_PART: Final = 153  # septets, after a 6-octet concatenation UDH
UCS2_SINGLE_PART: Final = 70  # UTF-16 units
UCS2_MULTI_PART: Final = 67  # UTF-16 units, after a 6-octet concatenation UDH

_UCS2_MULTI_BYTES: Final = UCS2_MULTI_PART * 2
_EXTENSION_CHARS: Final = tuple(GSM_EXTENSION)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class BodyAnalysis:
    """What a body costs and why (API §3.1 ``bodyAnalysis``).

    ``characters`` is septets (GSM) or UTF-16 units (UCS-2). ``unsupported_gsm_characters`` lists the
    characters that forced UCS-2, once each in order of appearance, and is ``()`` when not ``unicode``.
    ``transcoded_message``/``transcoded_parts`` are set only when ``unicode`` and every character has a GSM
    look-alike (``transcoding.transcode``); both are ``None`` otherwise.
    """

    characters: int
    parts: int
    unicode: bool
    unsupported_gsm_characters: tuple[str, ...]
    transcoded_message: str | None
    transcoded_parts: int | None


def _septet_stream(text: str) -> str:
    """GSM ``text`` with ESCAPE inserted before each extension character: one character per septet.

    GSM text never contains ESCAPE itself, so removing it restores the text exactly.
    """
    for c in _EXTENSION_CHARS:
        if c in text:
            text = text.replace(c, ESCAPE + c)
    return text


def _gsm_multipart_ends(stream: str) -> list[int]:
    """End offsets (in ``stream``) of the 153-septet parts, never leaving an escape at a part's end."""
    ends = []
    size = len(stream)
    pos = 0
    while pos < size:
        end = pos + GSM_MULTI_PART
        if end < size and stream[end - 1] == ESCAPE:
            end -= 1  # the escape and its character move together to the next part
        ends.append(min(end, size))
        pos = end
    return ends


def _ucs2_multipart_ends(data: bytes) -> list[int]:
    """End offsets (in UTF-16-BE ``data``) of the 67-unit parts, never ending a part on a high surrogate."""
    ends = []
    size = len(data)
    pos = 0
    while pos < size:
        end = pos + _UCS2_MULTI_BYTES
        if end < size and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # the high surrogate goes with its low surrogate to the next part
        ends.append(min(end, size))
        pos = end
    return ends


def _ucs2_segments_with_lone_surrogates(text: str) -> list[str]:
    """Slow, exact split for the pathological text holding surrogate code points (e.g. from JSON ``\\ud83d``).

    Slicing the UTF-16 bytes would not map back to the same ``str`` (a lone high + lone low code point
    re-decodes as one astral character), so walk the characters, keeping adjacent high+low together.
    """
    parts: list[str] = []
    start = 0
    used = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if "\ud800" <= c <= "\udbff" and i + 1 < n and "\udc00" <= text[i + 1] <= "\udfff":
            width, cost = 2, 2
        else:
            width, cost = 1, (2 if c > "\uffff" else 1)
        if used + cost > UCS2_MULTI_PART:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
        i += width
    parts.append(text[start:])
    return parts


def _gsm_parts(stream: str) -> int:
    """Part count of a GSM text given as its ``_septet_stream``."""
    septets = len(stream)
    if septets <= GSM_SINGLE_PART:
        return 1
    if ESCAPE not in stream:
        return -(-septets // GSM_MULTI_PART)  # no escape pairs: nothing to keep together
    return len(_gsm_multipart_ends(stream))


def _ucs2_parts(text: str, units: int) -> int:
    """Part count of non-GSM ``text`` that takes ``units`` UTF-16 units."""
    if units <= UCS2_SINGLE_PART:
        return 1
    if _SURROGATE.search(text) is not None:
        return len(_ucs2_segments_with_lone_surrogates(text))
    if units == len(text):
        return -(-units // UCS2_MULTI_PART)  # no astral characters: nothing to keep together
    return len(_ucs2_multipart_ends(text.encode("utf-16-be")))


def count_parts(text: str) -> int:
    """Number of SMS parts ``text`` is sent as; equals ``len(segment(text))`` without building the parts."""
    if find_non_gsm(text) < 0:
        if len(text) <= GSM_SINGLE_PART // 2:
            return 1  # fits even if every character costs two septets
        return _gsm_parts(_septet_stream(text))
    return _ucs2_parts(text, utf16_units(text))


def segment(text: str) -> list[str]:
    """``text`` split into its real SMS parts, in order; ``"".join(segment(text)) == text``.

    The empty text is ``[""]`` (one part). Each part fits the limits of the module docstring.
    """
    if find_non_gsm(text) < 0:
        stream = _septet_stream(text)
        if len(stream) <= GSM_SINGLE_PART:
            return [text]
        if ESCAPE not in stream:
            return [text[i : i + GSM_MULTI_PART] for i in range(0, len(text), GSM_MULTI_PART)]
        parts = []
        start = 0
        for end in _gsm_multipart_ends(stream):
            parts.append(stream[start:end].replace(ESCAPE, ""))
            start = end
        return parts
    units = utf16_units(text)
    if units <= UCS2_SINGLE_PART:
        return [text]
    if _SURROGATE.search(text) is not None:
        return _ucs2_segments_with_lone_surrogates(text)
    if units == len(text):
        return [text[i : i + UCS2_MULTI_PART] for i in range(0, len(text), UCS2_MULTI_PART)]
    data = text.encode("utf-16-be")
    parts = []
    start = 0
    for end in _ucs2_multipart_ends(data):
        parts.append(data[start:end].decode("utf-16-be"))
        start = end
    return parts


def characters(text: str) -> int:
    """Length of ``text`` in its encoding's units: septets when GSM, else UTF-16 code units."""
    if find_non_gsm(text) < 0:
        return len(text) + count_extension(text)
    return utf16_units(text)


def analyse(text: str) -> BodyAnalysis:
    """The body analysis of API §3.1 for ``text`` (before any transcoding)."""
    first_bad = find_non_gsm(text)
    if first_bad < 0:
        stream = _septet_stream(text)
        return BodyAnalysis(len(stream), _gsm_parts(stream), False, (), None, None)
    units = utf16_units(text)
    transcoded = transcode(text)
    return BodyAnalysis(
        characters=units,
        parts=_ucs2_parts(text, units),
        unicode=True,
        unsupported_gsm_characters=non_gsm_characters(text[first_bad:]),
        transcoded_message=transcoded,
        transcoded_parts=None if transcoded is None else count_parts(transcoded),
    )


def encode_parts(text: str) -> tuple[int, list[bytes]]:
    """``(data_coding, payloads)``: each part's SMPP ``short_message`` without the UDH.

    GSM bodies give ``DATA_CODING_GSM`` and unpacked septets (``encode_gsm``, at most 160 / 153 bytes per
    part); others ``DATA_CODING_UCS2`` and UTF-16-BE (at most 140 / 134 bytes per part). The caller adds
    the concatenation UDH (and sets ``esm_class`` 0x40) when there is more than one payload.
    """
    if find_non_gsm(text) < 0:
        return DATA_CODING_GSM, [encode_gsm(part) for part in segment(text)]
    if _SURROGATE.search(text) is not None:
        return DATA_CODING_UCS2, [part.encode("utf-16-be", "surrogatepass") for part in segment(text)]
    data = text.encode("utf-16-be")
    if len(data) <= UCS2_SINGLE_PART * 2:
        return DATA_CODING_UCS2, [data]
    payloads = []
    start = 0
    for end in _ucs2_multipart_ends(data):
        payloads.append(data[start:end])
        start = end
    return DATA_CODING_UCS2, payloads
