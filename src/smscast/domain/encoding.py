"""The GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1) and the two SMS text codecs smscast sends.

A message goes out either as GSM 7-bit (SMPP ``data_coding`` 0) or as UCS-2 (``data_coding`` 8). On the SMPP
wire GSM text is *unpacked*: one byte per septet, and a character of the extension table is the two bytes
``0x1B`` (escape) + its code, so it costs two septets. UCS-2 is sent as UTF-16-BE, astral characters as
surrogate pairs (two units), which is what every SMSC and handset actually accepts.

Only this module knows the tables; callers ask ``is_gsm`` / ``gsm_septets`` rather than test characters.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "DATA_CODING_GSM",
    "DATA_CODING_UCS2",
    "ESCAPE",
    "GSM_BASIC",
    "GSM_CHARACTERS",
    "GSM_EXTENSION",
    "count_extension",
    "decode_gsm",
    "decode_ucs2",
    "encode_gsm",
    "encode_ucs2",
    "find_non_gsm",
    "gsm_septets",
    "is_gsm",
    "non_gsm_characters",
    "utf16_units",
]

DATA_CODING_GSM: Final = 0
DATA_CODING_UCS2: Final = 8

#: The escape septet, and the placeholder for it at index 0x1B of ``GSM_BASIC``. It is not text: a message
#: containing a literal U+001B is not GSM.
ESCAPE: Final = "\x1b"

#: The 128 characters of the default alphabet; ``GSM_BASIC[septet]`` is the character of that septet.
GSM_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10-0x1F (Greek capitals are U+03xx, not Latin look-alikes)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F (0x24 is the currency sign ¤, not $)
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)

#: The extension table: character -> code sent after the escape septet (two septets each).
GSM_EXTENSION: Final[dict[str, int]] = {
    "\x0c": 0x0A,  # form feed
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

#: Every character a GSM message may contain (basic table without the escape, plus the extension table).
GSM_CHARACTERS: Final = frozenset(GSM_BASIC.replace(ESCAPE, "")) | frozenset(GSM_EXTENSION)

# One regex character class finds the first non-GSM character at C speed (~0.6 µs per 160 characters),
# several times faster than a frozenset superset test, which hashes every character in Python objects.
_NON_GSM = re.compile("[^" + "".join(re.escape(c) for c in sorted(GSM_CHARACTERS)) + "]")
_EXTENSION_CHARS: Final = tuple(GSM_EXTENSION)

_ENCODE_TABLE: Final[dict[int, str]] = {ord(c): chr(i) for i, c in enumerate(GSM_BASIC) if c != ESCAPE}
_ENCODE_TABLE.update({ord(c): ESCAPE + chr(code) for c, code in GSM_EXTENSION.items()})
_DECODE_BASIC: Final[dict[int, str]] = {i: c for i, c in enumerate(GSM_BASIC) if c != ESCAPE}
_DECODE_EXTENSION: Final[dict[int, str]] = {code: c for c, code in GSM_EXTENSION.items()}
# After latin-1 decoding, a run of plain septets or one escape sequence (possibly truncated at the end).
_DECODE_TOKEN = re.compile("\x1b[\x00-\x7f]?|[^\x1b]+")


def find_non_gsm(text: str) -> int:
    """Index of the first character of ``text`` outside the GSM alphabet, or -1 when it is all GSM."""
    match = _NON_GSM.search(text)
    return -1 if match is None else match.start()


def is_gsm(text: str) -> bool:
    """True when every character is in the basic or the extension table (the empty text is GSM)."""
    return _NON_GSM.search(text) is None


def non_gsm_characters(text: str) -> tuple[str, ...]:
    """The characters of ``text`` outside the GSM alphabet, once each, in order of first appearance."""
    return tuple(dict.fromkeys(_NON_GSM.findall(text)))


def count_extension(text: str) -> int:
    """How many characters of ``text`` are from the extension table (each costs one extra septet)."""
    # Ten C-level membership scans beat a regex findall and skip counting for absent characters.
    n = 0
    for c in _EXTENSION_CHARS:
        if c in text:
            n += text.count(c)
    return n


def gsm_septets(text: str) -> int:
    """Septets ``text`` takes in GSM 7-bit: one per character, two per extension character.

    Raises ``ValueError`` when ``text`` is not GSM.
    """
    if _NON_GSM.search(text) is not None:
        raise ValueError("text is not representable in the GSM 03.38 alphabet")
    return len(text) + count_extension(text)


def encode_gsm(text: str) -> bytes:
    """``text`` as unpacked septets, one byte each; extension characters become ``0x1B`` + code.

    This is the SMPP ``short_message`` for ``data_coding`` 0 (no 7-bit packing). Raises ``ValueError``
    when ``text`` is not GSM.
    """
    if _NON_GSM.search(text) is not None:
        raise ValueError("text is not representable in the GSM 03.38 alphabet")
    return text.translate(_ENCODE_TABLE).encode("latin-1")


def _decode_token(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] != ESCAPE:
        return token.translate(_DECODE_BASIC)
    if len(token) == 1 or token[1] == ESCAPE:
        # 0x1B 0x1B is reserved for a further extension table: TS 23.038 says display a space. A truncated
        # escape at the very end is shown the same way rather than lost silently.
        return " "
    code = ord(token[1])
    # An escape code the extension table does not define shows the basic table's character (TS 23.038).
    return _DECODE_EXTENSION.get(code) or GSM_BASIC[code]


def decode_gsm(data: bytes) -> str:
    """The text of unpacked septets (inverse of ``encode_gsm`` for GSM text).

    Never raises for bytes below 0x80: an undefined escape code decodes to the basic character of that
    code, ``0x1B 0x1B`` and a trailing lone ``0x1B`` to a space. A byte >= 0x80 is not a septet:
    ``ValueError``.
    """
    if not data.isascii():
        raise ValueError("unpacked GSM septets must all be below 0x80")
    text = data.decode("latin-1")
    if ESCAPE not in text:
        return text.translate(_DECODE_BASIC)
    return _DECODE_TOKEN.sub(_decode_token, text)


def encode_ucs2(text: str) -> bytes:
    """``text`` as UTF-16-BE (``data_coding`` 8): astral characters become surrogate pairs.

    A lone surrogate code point in ``text`` is passed through as its unit rather than raising.
    """
    return text.encode("utf-16-be", "surrogatepass")


def decode_ucs2(data: bytes) -> str:
    """UTF-16-BE bytes as text; malformed input (odd length, broken pairs) decodes to U+FFFD, never raises."""
    return data.decode("utf-16-be", "replace")


def utf16_units(text: str) -> int:
    """UTF-16 code units of ``text``: one per character, two per astral (above U+FFFF) character."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-be", "surrogatepass")) >> 1
