"""Validity of a phone number per libphonenumber's metadata, compiled once per country calling code
(``numbers`` memoises the results and owns the rules of the E.164 form; see its docstring for the speed).

``checker(cc)`` answers what ``phonenumbers.is_valid_number`` answers for a number of calling code ``cc``
with national significant number ``nsn``, and keeps the region it computes on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import phonenumbers as _pn
import phonenumbers.phonenumberutil as _pnu

#: What ``checker`` returns for an invalid number; no region looks like it.
INVALID: Final = "!invalid"
NON_GEO_REGION: Final = "001"  # libphonenumber's region for +800, +882, … (UN M.49 "World")

# Number descriptors in the order most recipients match them. Validity per libphonenumber is "matches the
# general description and at least one type"; which type is irrelevant here, so mobile is tried first
# instead of last (``_number_type_helper`` tries eight rare types before it), which is ~4x cheaper.
_TYPE_DESCRIPTORS: Final = (
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def checker(cc: int) -> Callable[[str], str]:
    """For calling code ``cc``: national significant number → the region of the number if it is valid
    (``PhoneNumber.region``), else ``INVALID``. Equivalent to ``is_valid_number`` (which is exactly
    ``is_valid_number_for_region(n, region_code_for_number(n))``) while keeping the region it computes;
    ``tests/unit/test_numbers.py`` checks the equivalence against the library itself. Everything that
    depends only on the code (regions, metadata, compiled descriptors) is looked up once per code: a bulk
    list is validated country by country (the field notes' advice)."""
    known = _CHECKERS.get(cc)
    if known is None:
        known = _CHECKERS[cc] = _make_checker(cc)
    return known


def _make_checker(cc: int) -> Callable[[str], str]:
    regions = _pnu.COUNTRY_CODE_TO_REGION_CODE.get(cc) or ()
    # (region as returned, its leading-digits pattern or None, its validity test), in the library's order:
    # ``region_code_for_number`` takes the first region whose leading digits match or, without leading
    # digits, for which the number is valid; the number must then be valid for that region.
    candidates: list[tuple[str, re.Pattern[str] | None, Callable[[str], bool]]] = []
    for region in regions:
        upper = str(region).upper()
        if len(regions) == 1:
            metadata = _pn.PhoneMetadata.metadata_for_region_or_calling_code(cc, upper)
        else:
            metadata = _pn.PhoneMetadata.metadata_for_region(upper, None)
        if metadata is None:
            continue
        leading = None if metadata.leading_digits is None else re.compile(metadata.leading_digits)
        result = "" if region == NON_GEO_REGION else str(region)
        candidates.append((result, leading, _validity(metadata)))
    if len(regions) == 1:
        if not candidates:
            return lambda nsn: INVALID
        only, _, valid = candidates[0]
        return lambda nsn: only if valid(nsn) else INVALID

    def check(nsn: str) -> str:
        for result, leading, valid in candidates:
            if leading is not None:
                if leading.match(nsn):
                    return result if valid(nsn) else INVALID
            elif valid(nsn):
                return result
        return INVALID

    return check


def _desc(desc: Any) -> tuple[frozenset[int], re.Pattern[str] | None] | None:
    """A number descriptor's possible lengths and compiled pattern (``None``: no such descriptor)."""
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return frozenset(desc.possible_length), re.compile(pattern) if pattern else None


def _validity(metadata: Any) -> Callable[[str], bool]:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` (the general descriptor and one type match; as
    ``_is_number_matching_desc``: the length among the possible ones, if listed, and the pattern), as the
    ``fullmatch`` of one pattern compiled once (`_validity_pattern`)."""
    pattern = _validity_pattern(metadata)
    if pattern is None:
        return lambda nsn: False
    fullmatch = pattern.fullmatch
    return lambda nsn: fullmatch(nsn) is not None


def _validity_pattern(metadata: Any) -> re.Pattern[str] | None:
    """One pattern whose ``fullmatch`` of a national significant number (digits) is the number's validity:
    lookaheads for the general descriptor (its lengths, if listed, and its pattern), then one alternative a
    type, each with its own lengths, the common types first. ``None``: no number is valid. One match in C
    instead of two or three and the Python around them (a Greek mobile: 0.59 → 0.50 µs)."""
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    general_lengths, general_regex = general
    if general_regex is None:
        return None
    alternatives = []
    for lengths, regex in (d for d in (_desc(getattr(metadata, n)) for n in _TYPE_DESCRIPTORS) if d):
        if regex is None or (lengths and not _real(lengths)):
            continue  # no pattern, or lengths that no number has (-1: the type does not exist here)
        alternatives.append(_sized(lengths) + f"(?:{regex.pattern})")
    if not alternatives:
        return None
    head = _sized(general_lengths) + f"(?=(?:{general_regex.pattern})\\Z)"
    return re.compile(head + "(?:" + "|".join(alternatives) + ")")


def _real(lengths: frozenset[int]) -> frozenset[int]:
    return frozenset(n for n in lengths if n > 0)


def _sized(lengths: frozenset[int]) -> str:
    """A lookahead for a string of one of ``lengths`` digits (none when no lengths are listed)."""
    if not lengths:
        return ""
    return "(?=(?:" + "|".join(f"\\d{{{n}}}" for n in sorted(_real(lengths))) + ")\\Z)"


_CHECKERS: dict[int, Callable[[str], str]] = {}
