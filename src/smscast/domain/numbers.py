"""Recipient phone numbers: strict E.164 validation, region and time-zone lookup (spec §3.5, §4.9).

A number is accepted only in strict E.164 form: ``+``, then 2 to 15 ASCII digits, the first not ``0``, no
spaces or other punctuation, and valid for its country per libphonenumber's metadata
(``phonenumbers.is_valid_number``). The string is read literally as country calling code + national
significant number: libphonenumber's lenient parsing (stripping a national trunk prefix, as in
``+44 0 7400 123456``) is not applied, so an accepted value is always its own canonical E.164 form and
``PhoneNumber.e164 == value``.

Speed (field notes, "phonenumbers"): libphonenumber compiles its metadata patterns on demand, and in mixed
arrival order they thrash ``re``'s 512-entry cache (~250 µs per number instead of ~10). This module
therefore (1) turns on the library's own compiled-pattern cache where the installed version has it
(``phonenumbers.enable_pattern_cache``: a process-wide setting, bounded by the fixed metadata, that only
keeps compiled patterns), (2) groups a bulk list's new values by country calling code before validating
them, which alone brings mixed arrival order from ~250 to ~20-27 µs per number when (1) is unavailable
(phonenumbers releases without it), (3) never calls ``phonenumbers.parse`` (the digits are split here, and
the library's number object, where one is needed, is built from them), and (4) looks up what depends
only on the calling code (region, metadata, compiled patterns) once per code (``number_rules.checker``):
a new number then costs its own two or three pattern matches, ~2-3 µs in any order (~5-11 µs with (1)
alone, ``bench/bench_numbers.py``). Results (regions) are memoised per string in bounded process-wide caches;
``clear_caches()`` empties them (tests and benchmarks).

Everything here is safe to call from several threads: the caches are plain dicts whose single operations
are atomic, and a lost insertion only costs a recomputation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import phonenumbers as _pn
from phonenumbers import timezone as _pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA as _TIMEZONE_DATA

from smscast.domain.errors import ValidationFailed, validation_error
from smscast.domain.number_rules import INVALID as _INVALID
from smscast.domain.number_rules import NON_GEO_REGION as _NON_GEO_REGION
from smscast.domain.number_rules import checker as _checker

__all__ = [
    "PhoneNumber",
    "clear_caches",
    "country_calling_code",
    "parse_e164",
    "region_of",
    "validate_numbers",
    "validate_regions",
    "zones_of",
]

# Older releases of phonenumbers (the project allows >= 8.13) lack the pattern cache; grouping by country
# code alone still avoids most of the re-cache thrash there.
_enable_pattern_cache: Callable[[], None] | None = getattr(_pn, "enable_pattern_cache", None)
if _enable_pattern_cache is not None:
    _enable_pattern_cache()

# '+', a country code never starting with 0, at most 15 digits in all (ITU-T E.164). [0-9] rather than \d:
# \d would accept non-ASCII digits such as Arabic-Indic ones.
_E164_SHAPE: Final = re.compile(r"\+[1-9][0-9]{1,14}")


def _code_table() -> dict[str, tuple[int, int]]:
    """Every string of 1 to 3 digits -> (country calling code it starts with, length of that code).

    Country calling codes are prefix-free (ITU-T E.164), so the first 1-, 2- or 3-digit prefix that is a
    known code is the code; tabulating all 1,110 cases makes finding it one dict lookup."""
    codes = {str(cc): cc for cc in _pn.COUNTRY_CODE_TO_REGION_CODE}
    table: dict[str, tuple[int, int]] = {}
    for width in (1, 2, 3):
        for n in range(10**width):
            digits = f"{n:0{width}d}"
            for end in range(1, width + 1):
                cc = codes.get(digits[:end])
                if cc is not None:
                    table[digits] = (cc, end)
                    break
    return table


_CODE_BY_LEADING_DIGITS: Final = _code_table()

_UNKNOWN_ZONE: Final = "Etc/Unknown"

# Bounds of the memo caches. An entry costs ~150 bytes with its key (measured: ~95 without), so a full
# cache is ~20 MiB; when full it is simply emptied (cheaper and simpler than LRU bookkeeping, and a
# campaign's list is re-validated at ~10 µs per number at worst).
_VALIDATION_CACHE_MAX: Final = 131_072
_ZONES_CACHE_MAX: Final = 131_072


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid recipient number.

    ``e164`` is the strict E.164 string (``+306948530920``), ``region`` the ISO 3166-1 alpha-2 code of its
    country or territory per libphonenumber (``GR``; ``''`` for non-geographic codes such as +800), and
    ``country_code`` the ITU calling code (``30``). Instances are only made by this module's functions.
    """

    e164: str
    region: str
    country_code: int


# Valid number -> its region (``PhoneNumber.region``), or ``_INVALID``. The region strings are the
# library's own, shared: an entry costs its key and a pointer, and no object is made per number.
_validated: dict[str, str] = {}
_zones: dict[str, tuple[str, ...]] = {}


def clear_caches() -> None:
    """Empty the memo caches of this module (for tests and benchmarks; never needed for correctness)."""
    _validated.clear()
    _zones.clear()


def _split(e164: str) -> tuple[int, str] | None:
    """``(country calling code, national significant number)`` of a string already known to have the
    E.164 shape; ``None`` when no known calling code starts it or nothing follows the code."""
    found = _CODE_BY_LEADING_DIGITS.get(e164[1:4])
    if found is None:
        return None
    cc, width = found
    nsn = e164[1 + width :]
    return (cc, nsn) if nsn else None


def _library_number(cc: int, nsn: str) -> _pn.PhoneNumber:
    """The library's number object for literal digits, as ``phonenumbers.parse`` would set it for an
    E.164 string, minus its national-prefix stripping (see the module docstring), at ~1/7 of the cost."""
    numobj = _pn.PhoneNumber(country_code=cc, national_number=int(nsn))
    # Same rule as phonenumbers' _set_italian_leading_zeros_for_phone_number: leading zeros are part of the
    # national significant number in some countries (Italy's 06…) and int() would drop them.
    if len(nsn) > 1 and nsn[0] == "0":
        numobj.italian_leading_zero = True
        zeros = 1
        while zeros < len(nsn) - 1 and nsn[zeros] == "0":
            zeros += 1
        if zeros != 1:
            numobj.number_of_leading_zeros = zeros
    return numobj


def _remember(e164: str, region: str) -> None:
    if len(_validated) >= _VALIDATION_CACHE_MAX:
        _validated.clear()
    _validated[e164] = region


def _lookup(value: object) -> str:
    """The region of one valid value, or ``_INVALID`` (memoised)."""
    if not isinstance(value, str) or _E164_SHAPE.fullmatch(value) is None:
        return _INVALID  # malformed values are not cached: rejecting them is cheap and they could flood it
    hit = _validated.get(value)
    if hit is not None:
        return hit
    parts = _split(value)
    result = _INVALID if parts is None else _checker(parts[0])(parts[1])
    _remember(value, result)
    return result


def _number(e164: str, region: str) -> PhoneNumber:
    """The ``PhoneNumber`` of a value known to be valid, with its region."""
    return PhoneNumber(e164, region, _CODE_BY_LEADING_DIGITS[e164[1:4]][0])


def _invalid(field: str, value: object) -> ValidationFailed:
    return validation_error(field, f"Invalid phone number: {value}")


def parse_e164(value: object, field: str = "to") -> PhoneNumber:
    """Validate one recipient number (strict E.164, valid per libphonenumber; see the module docstring).

    Raises ``ValidationFailed`` (400000000) with ``properties == {field: "Invalid phone number: <value>"}``
    for anything else, including non-strings. The returned ``e164`` equals ``value``.
    """
    region = _lookup(value)
    if region is _INVALID:
        raise _invalid(field, value)
    assert isinstance(value, str)  # _lookup accepts strings only
    return _number(value, region)


def validate_numbers(values: Sequence[object], field: str = "to") -> list[PhoneNumber]:
    """Validate a list of numbers in bulk: same rules and results as ``parse_e164`` on each value.

    Returns one ``PhoneNumber`` per input value, in the input order; duplicates are kept (de-duplicating is
    the caller's job, e.g. by ``e164``). If any value is invalid, raises ``ValidationFailed`` for the FIRST
    invalid value in input order, with ``properties == {field: "Invalid phone number: <value>"}`` (the field
    name alone, without an index, as for ``parse_e164``). A ``str`` or ``bytes`` passed as ``values`` is
    rejected with ``{field: "Expected a list of phone numbers"}`` rather than read character by character.
    ``validate_regions`` does the same work without making an object per number.
    """
    regions = validate_regions(values, field)
    made: dict[object, PhoneNumber] = {}
    out: list[PhoneNumber] = []
    for value, region in zip(values, regions, strict=True):
        number = made.get(value)
        if number is None:
            assert isinstance(value, str)  # validated
            number = made[value] = _number(value, region)
        out.append(number)
    return out


def validate_regions(values: Sequence[object], field: str = "to") -> list[str]:
    """``[n.region for n in validate_numbers(values, field)]``, the same checks and the same error, without
    a ``PhoneNumber`` per value (a bulk list's numbers are strings: their regions are all the caller needs).

    Cost: ~0.06 µs per value already seen (memoised, looked up before anything else); a new value costs
    its shape check and its own two or three pattern matches, the values being grouped by calling code
    first so that everything that depends only on the country (region, metadata, compiled patterns) is
    looked up once per code (``number_rules.checker``); values after the first malformed one are not looked
    at.
    """
    if isinstance(values, str | bytes | bytearray):
        raise validation_error(field, "Expected a list of phone numbers")
    count = len(values)
    out: list[str] = [_INVALID] * count
    first_bad = count
    # Indexes of the values not memoised yet, per calling code, in input order.
    todo: dict[int, list[int]] = {}
    cached = _validated.get
    shape = _E164_SHAPE.fullmatch
    leading = _CODE_BY_LEADING_DIGITS.get
    for i, value in enumerate(values):
        # Memoised values come first: only a value that passed the shape check was ever remembered.
        hit = cached(value) if type(value) is str else None
        if hit is not None:
            if hit is _INVALID:
                first_bad = i
                break
            out[i] = hit
            continue
        if not isinstance(value, str) or shape(value) is None:
            first_bad = i
            break  # nothing after it can be reported; only unseen values before it still need checking
        found = leading(value[1:4])
        if found is None or len(value) <= 1 + found[1]:
            _remember(value, _INVALID)
            first_bad = i
            break
        indexes = todo.get(found[0])
        if indexes is None:
            todo[found[0]] = [i]
        else:
            indexes.append(i)
    for cc, indexes in todo.items():
        check = _checker(cc)
        start = 1 + len(str(cc))
        for i in indexes:
            if i > first_bad:
                break  # cannot change the answer (indexes ascend)
            value = values[i]
            assert isinstance(value, str)  # checked in the first pass; this narrows the type for mypy
            hit = cached(value)  # a duplicate of a value classified earlier in this loop
            if hit is None:
                hit = check(value[start:])
                _remember(value, hit)
            if hit is _INVALID:
                first_bad = i
                break
            out[i] = hit
    if first_bad < count:
        raise _invalid(field, values[first_bad])
    return out


def country_calling_code(e164: str) -> int:
    """The ITU country calling code an E.164-shaped string starts with (``+306948530920`` → 30), whether or
    not the rest is a valid number. Raises ``ValueError`` if ``e164`` is not ``+`` and digits or starts with
    no known code."""
    parts = _split(e164) if _E164_SHAPE.fullmatch(e164) else None
    if parts is None:
        raise ValueError(f"Not an E.164 number: {e164!r}")
    return parts[0]


def region_of(e164: str) -> str:
    """ISO 3166-1 alpha-2 region of a number (``GR``), memoised for valid numbers.

    For a valid number this is ``PhoneNumber.region``. For an E.164-shaped string that the metadata does not
    (or no longer) accept, it is the region libphonenumber attributes to its calling code and leading digits,
    so stored numbers keep a country after a metadata update. ``''`` for anything else, for non-geographic
    codes (+800, +882, …) and for unknown codes. Never raises.
    """
    found = _lookup(e164)
    if found is not _INVALID:
        return found
    parts = _split(e164) if isinstance(e164, str) and _E164_SHAPE.fullmatch(e164) else None
    if parts is None:
        return ""
    region = _pn.region_code_for_number(_library_number(*parts))
    return "" if region is None or region == _NON_GEO_REGION else region


def _country_zones(cc: int) -> tuple[str, ...]:
    return tuple(zone for zone in _TIMEZONE_DATA.get(str(cc), ()) if zone != _UNKNOWN_ZONE)


def _compute_zones(e164: str) -> tuple[str, ...]:
    parts = _split(e164) if _E164_SHAPE.fullmatch(e164) else None
    if parts is None:
        return ()
    zones = tuple(
        zone for zone in _pn_timezone.time_zones_for_number(_library_number(*parts)) if zone != _UNKNOWN_ZONE
    )
    # The spec (§4.9) takes local time from the number, "its country, or … its prefix": when libphonenumber
    # knows no zone for this number (an invalid or unallocated range), fall back to the country's zones.
    return zones or _country_zones(parts[0])


def zones_of(e164: str) -> tuple[str, ...]:
    """IANA time-zone names the recipient of ``e164`` may be in, memoised per number.

    These are ``phonenumbers.timezone.time_zones_for_number`` with ``Etc/Unknown`` removed: one zone for
    most numbers (``+306948530920`` → ``('Europe/Athens',)``), several where the prefix does not pin it down
    (``+61412345678`` → the 8 Australian zones). When the number has no known zone (invalid, unallocated),
    the zones of its country calling code are returned instead. ``()`` when even those are unknown
    (non-geographic codes such as +800) or ``e164`` is not E.164-shaped: quiet hours then impose no
    restriction (see ``quiet_hours.is_quiet``). Never raises. Every name is one of libphonenumber's, all of
    which ``zoneinfo`` resolves given the system (or PyPI ``tzdata``) database.
    """
    if not isinstance(e164, str):
        return ()
    hit = _zones.get(e164)
    if hit is not None:
        return hit
    zones = _compute_zones(e164)
    if len(_zones) >= _ZONES_CACHE_MAX:
        _zones.clear()
    _zones[e164] = zones
    return zones
