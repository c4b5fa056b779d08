"""GSM look-alike transcoding (API §3.1 ``transcode``): a unicode body rewritten in the GSM alphabet.

A UCS-2 part holds 70 characters against GSM's 160, so replacing a few typographic or accented characters
by plain look-alikes can divide the part count (and the price) by two or more. The replacement is
per character and context-free:

- Greek: lowercase and accented letters become their unaccented capital (``ά``→``Α``, ``ς``→``Σ``); the
  capitals GSM has (``Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ``) stay, the others become Latin look-alikes (``Α``→``A``,
  ``Η``→``H``, ``Ρ``→``P``, ``Χ``→``X`` …). Polytonic letters (U+1F00–U+1FFF) follow the same rule.
- Latin letters outside GSM lose their diacritics (Unicode NFD, combining marks dropped: ``á``→``a``,
  ``ő``→``o``, ``ș``→``s``); letters GSM has (``é è ü ñ Ä Ö Ñ Ü à ì ò ù Ç``…) are kept. ``ç``→``Ç`` (GSM has
  only the capital), ``ł``→``l``, ``đ``→``d``, ``œ``→``oe`` and a few more letters without a decomposition.
- Typographic quotes → ``'`` / ``"``, dashes and minus → ``-``, ``…`` → ``...``, Unicode spaces and tab
  → space, line/paragraph separators → LF, bullets ``•`` ``∙`` → ``*``, the backtick and acute accent → ``'``.
- Invisible characters (soft hyphen, zero-width space/joiners, word joiner, BOM) are dropped.

Anything else (emoji, CJK, Cyrillic, symbols such as ``°`` or ``™``) has no look-alike: then the whole text
has no transcoding and ``transcode`` answers ``None``.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from smscast.domain.encoding import GSM_CHARACTERS, is_gsm

__all__ = ["transcode"]

# Greek capitals GSM lacks, by the Latin capital they look like. (GSM's own Greek capitals map to themselves.)
_GREEK_CAPITAL_LOOKALIKE: Final = {
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
}

_PUNCTUATION: Final = {
    **dict.fromkeys("‘’‚‛′‹›`´", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    "…": "...",
    **dict.fromkeys("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a", " "),
    **dict.fromkeys("\u202f\u205f\u3000\t", " "),
    **dict.fromkeys("\u2028\u2029", "\n"),
    **dict.fromkeys("•∙", "*"),
    # Invisible in the original, so dropping them keeps the look.
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
}

# Letters NFD does not decompose (or decomposes to something GSM lacks) with an obvious look-alike.
_LETTERS: Final = {
    "ç": "Ç",
    "ı": "i",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "Ð": "D",
    "ħ": "h",
    "Ħ": "H",
    "ŧ": "t",
    "Ŧ": "T",
    "œ": "oe",
    "Œ": "OE",
    "µ": "M",  # the micro sign is Greek mu to a reader: treated like μ → Μ → M
}

# Latin-1 Supplement to Latin Extended-B, Greek and Coptic, Latin Extended Additional, Greek Extended.
_LETTER_RANGES: Final = ((0x00A0, 0x0250), (0x0370, 0x0400), (0x1E00, 0x2000))


def _strip_marks(c: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", c) if not unicodedata.combining(ch))


def _look_alike(c: str) -> str | None:
    """The GSM replacement for one non-GSM character of the letter ranges, or None."""
    base = _strip_marks(c)
    if "\u0370" <= c <= "\u03ff" or "\u1f00" <= c <= "\u1fff":  # Greek and Coptic, Greek Extended
        # Uppercase after stripping: 'ΐ'.upper() would re-add marks as separate characters.
        base = "".join(_GREEK_CAPITAL_LOOKALIKE.get(ch, ch) for ch in base.upper())
    if base and base != c and is_gsm(base):
        return base
    return None


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for low, high in _LETTER_RANGES:
        for code in range(low, high):
            c = chr(code)
            if c in GSM_CHARACTERS:
                continue
            replacement = _look_alike(c)
            if replacement is not None:
                table[code] = replacement
    table.update({ord(c): r for c, r in _LETTERS.items()})
    table.update({ord(c): r for c, r in _PUNCTUATION.items()})
    assert all(is_gsm(r) for r in table.values()), "every replacement must be GSM"
    return table


# Built once at import (~2 ms); str.translate then does the per-character work in C.
_TABLE: Final = _build_table()


def transcode(text: str) -> str | None:
    """A GSM-only look-alike of ``text`` (see the module docstring), or ``None`` if some character has none.

    GSM characters are kept, so a text that is already GSM is returned unchanged. The result may be longer
    (``…`` → ``...``) or shorter (dropped invisible characters) than ``text``. Whenever it is not ``None``,
    ``is_gsm(result)`` holds.
    """
    result = text.translate(_TABLE)
    return result if is_gsm(result) else None
