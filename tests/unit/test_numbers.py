"""Recipient numbers (API §3.5): strict E.164, bulk validation, region and time-zone lookup."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from smscast.domain.errors import ValidationFailed
from smscast.domain.numbers import (
    PhoneNumber,
    clear_caches,
    country_calling_code,
    parse_e164,
    region_of,
    validate_numbers,
    validate_regions,
    zones_of,
)


@pytest.fixture(autouse=True)
def _cold_caches() -> Iterator[None]:
    # Each test starts and ends with empty memo caches, so a result can't come from another test's run.
    clear_caches()
    yield
    clear_caches()


def oracle(value: object) -> bool:
    """Independent statement of the rule: libphonenumber's own parser accepts the value as a valid number
    whose canonical E.164 form is the value itself, and the value is '+' then ASCII digits."""
    if not isinstance(value, str) or not value.startswith("+") or not value[1:].isascii():
        return False
    if not value[1:].isdigit() or len(value) > 16:
        return False
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) and (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == value
    )


VALID = {
    "+306948530920": ("GR", 30),  # the spec's example
    "+306912345678": ("GR", 30),
    "+302123456789": ("GR", 30),  # Athens landline
    "+12015550123": ("US", 1),
    "+12125551234": ("US", 1),
    "+15062345678": ("CA", 1),  # same calling code, another region
    "+447400123456": ("GB", 44),
    "+441212345678": ("GB", 44),
    "+441534456789": ("JE", 44),  # Jersey shares +44
    "+4915123456789": ("DE", 49),
    "+4930123456": ("DE", 49),
    "+493012345678901": ("DE", 49),  # 15 digits: E.164's maximum
    "+918123456789": ("IN", 91),
    "+917410410123": ("IN", 91),
    "+390612345678": ("IT", 39),  # significant leading zero
    "+61412345678": ("AU", 61),
    "+79123456789": ("RU", 7),
    "+80012345678": ("", 800),  # International Freephone: no region
}

INVALID = [
    "306948530920",  # missing '+'
    "00306948530920",  # international prefix instead of '+'
    "+",
    "+3",
    "+3069",  # too short
    "+306948530",  # too short for Greece
    "+3069485309201",  # too long for Greece
    "+30694853092a",  # letter
    "+30 694 853 0920",  # spaces: Routee wants strict E.164
    "+30-694-853-0920",
    "+(30)6948530920",
    " +306948530920",
    "+306948530920 ",
    "+306948530920\n",
    "++306948530920",
    "+\uff13\uff10\uff16\uff19\uff14\uff18\uff15\uff13\uff10\uff19\uff12\uff10",  # full-width digits
    "+\u0663\u0660\u0666\u0669\u0664\u0668\u0665\u0663\u0660\u0669\u0662\u0660",  # Arabic-Indic digits
    "+15550123456",  # unassigned US area code 555
    "+30594853092",  # unassigned Greek range
    "+99912345678",  # unassigned calling code 999
    "+06948530920",  # calling codes don't start with 0
    "+4407400123456",  # national trunk prefix kept: libphonenumber would strip it, E.164 doesn't have it
    "+3906123",
    "+8001234567",  # +800 numbers have 8 digits
    "+1234567890123456",  # 16 digits
    "",
]


@pytest.mark.parametrize(("e164", "expected"), VALID.items())
def test_valid_numbers(e164: str, expected: tuple[str, int]) -> None:
    region, cc = expected
    assert oracle(e164)
    assert parse_e164(e164) == PhoneNumber(e164, region, cc)
    assert region_of(e164) == region
    assert country_calling_code(e164) == cc


@pytest.mark.parametrize("value", [*INVALID, None, 306948530920, b"+306948530920", ["+306948530920"]])
def test_invalid_numbers_raise_400000000_naming_the_field_and_value(value: object) -> None:
    assert not oracle(value)
    with pytest.raises(ValidationFailed) as caught:
        parse_e164(value, field="mobile")
    assert caught.value.code == "400000000"
    assert caught.value.properties == {"mobile": f"Invalid phone number: {value}"}


def test_default_field_is_to() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_e164("+3069")
    assert caught.value.properties == {"to": "Invalid phone number: +3069"}


def test_bulk_keeps_order_and_duplicates() -> None:
    values = ["+447400123456", "+306948530920", "+12015550123", "+306948530920", "+918123456789"]
    result = validate_numbers(values)
    assert [n.e164 for n in result] == values
    assert [n.region for n in result] == ["GB", "GR", "US", "GR", "IN"]
    assert result[1] is result[3]
    assert validate_numbers([]) == []


def test_bulk_results_equal_single_results_cold_and_warm() -> None:
    values = list(VALID)
    cold = validate_numbers(values)
    warm = validate_numbers(values)
    clear_caches()
    assert cold == warm == [parse_e164(v) for v in values]


@pytest.mark.parametrize(
    ("values", "first_bad"),
    [
        (["+306948530920", "+3069", "+1"], "+3069"),
        # a number only the metadata rejects comes before a malformed one: it is reported
        (["+306948530920", "+15550123456", "nonsense"], "+15550123456"),
        (["+306948530920", "nonsense", "+15550123456"], "nonsense"),
        # the first bad one is reported whatever the country groups' order
        (["+12015550123", "+447400123456", "+4470", "+15550123456"], "+4470"),
        (["+15550123456", "+4470"], "+15550123456"),
        (["+12015550123", "+12015550123", None], "None"),
        (["+306948530920"] * 3 + ["+30594853092"] * 2, "+30594853092"),
    ],
)
def test_bulk_reports_the_first_bad_value(values: list[object], first_bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_numbers(values, field="to")
    assert caught.value.properties == {"to": f"Invalid phone number: {first_bad}"}
    # Once the cache knows some of the values, the answer is the same.
    with pytest.raises(ValidationFailed) as again:
        validate_numbers(values, field="to")
    assert again.value.properties == caught.value.properties


def test_bulk_reports_the_first_bad_value_when_it_is_already_cached() -> None:
    with pytest.raises(ValidationFailed):
        parse_e164("+30594853092")
    with pytest.raises(ValidationFailed) as caught:
        validate_numbers(["+12015550123", "+30594853092", "+15550123456"], field="groups")
    assert caught.value.properties == {"groups": "Invalid phone number: +30594853092"}


@pytest.mark.parametrize("values", ["+306948530920", b"+306948530920"])
def test_bulk_rejects_a_bare_string(values: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_numbers(values)  # type: ignore[arg-type]
    assert caught.value.properties == {"to": "Expected a list of phone numbers"}


def _example_pool() -> tuple[list[str], list[str]]:
    """Valid and invalid numbers from every region's examples: each example, plus variants with the last
    digits changed, one digit dropped or added (mostly invalid, some valid)."""
    rng = random.Random(20261127)
    candidates: set[str] = set()
    types = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in types:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            digits = "".join(rng.choice("0123456789") for _ in range(3))
            candidates.update({e164, e164[:-3] + digits, e164[:-1], e164 + "7"})
    for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:  # non-geographic codes (+800, +882, …) too
        candidates.add(f"+{cc}" + "".join(rng.choice("0123456789") for _ in range(9)))
    ordered = sorted(candidates)
    return [v for v in ordered if oracle(v)], [v for v in ordered if not oracle(v)]


POOL_VALID, POOL_INVALID = _example_pool()


def test_pool_is_meaningful() -> None:
    assert len(POOL_VALID) > 500
    assert len(POOL_INVALID) > 500


def test_single_validation_agrees_with_libphonenumber_on_every_region() -> None:
    for value in POOL_VALID:
        number = parse_e164(value)
        assert number.e164 == value
        expected_region = phonenumbers.region_code_for_number(phonenumbers.parse(value))
        assert number.region == ("" if expected_region == "001" else expected_region)
    for value in POOL_INVALID:
        with pytest.raises(ValidationFailed):
            parse_e164(value)


def _one_by_one(values: list[object]) -> list[PhoneNumber] | str:
    """The reference: libphonenumber on each value in turn, stopping at the first bad one."""
    out: list[PhoneNumber] = []
    for value in values:
        if not oracle(value):
            return f"Invalid phone number: {value}"
        assert isinstance(value, str)
        region = phonenumbers.region_code_for_number(phonenumbers.parse(value))
        assert region is not None
        out.append(PhoneNumber(value, "" if region == "001" else region, country_calling_code(value)))
    return out


@settings(max_examples=150, deadline=None)
@given(
    valid=st.lists(st.sampled_from(POOL_VALID), max_size=40),
    invalid=st.lists(st.sampled_from([*POOL_INVALID, *INVALID, None, 7]), max_size=3),
    seed=st.randoms(use_true_random=False),
    warm=st.booleans(),
)
def test_grouped_bulk_validation_equals_one_by_one(
    valid: list[str], invalid: list[object], seed: random.Random, warm: bool
) -> None:
    values: list[object] = [*valid, *invalid]
    seed.shuffle(values)
    clear_caches()
    if warm:  # part of the values already memoised, from an earlier campaign
        for value in values[::2]:
            with contextlib.suppress(ValidationFailed):
                parse_e164(value)
    expected = _one_by_one(values)
    try:
        result: list[PhoneNumber] | str = validate_numbers(values)
    except ValidationFailed as error:
        result = error.properties["to"]
    assert result == expected


def test_zones_of_single_and_multi_zone_numbers() -> None:
    assert zones_of("+306948530920") == ("Europe/Athens",)
    assert zones_of("+12125551234") == ("America/New_York",)
    australia = zones_of("+61412345678")
    assert len(australia) == 8
    assert {"Australia/Perth", "Australia/Sydney", "Australia/Lord_Howe"} <= set(australia)
    assert len(zones_of("+79123456789")) > 10  # Russian mobiles: any of its zones


def test_zones_of_falls_back_to_the_country_then_to_nothing() -> None:
    # An invalid Greek number has no zone of its own: the country's is used.
    assert zones_of("+30594853092") == ("Europe/Athens",)
    assert zones_of("+80012345678") == ()  # non-geographic
    assert zones_of("+99912345678") == ()  # unassigned calling code
    assert zones_of("306948530920") == ()
    assert zones_of("") == ()


def test_zones_of_never_returns_unknown_and_every_zone_loads() -> None:
    from zoneinfo import ZoneInfo

    for value in POOL_VALID[::3]:
        zones = zones_of(value)
        assert "Etc/Unknown" not in zones
        for zone in zones:
            ZoneInfo(zone)


def test_zones_of_matches_libphonenumber_when_it_knows() -> None:
    from phonenumbers import timezone

    for value in POOL_VALID[::5]:
        library = timezone.time_zones_for_number(phonenumbers.parse(value))
        if library != ("Etc/Unknown",):
            assert zones_of(value) == library


def test_region_of_invalid_and_malformed() -> None:
    assert region_of("+30594853092") == "GR"  # well-formed, rejected by the metadata: still Greek
    assert region_of("+99912345678") == ""
    assert region_of("+80012345678") == ""
    assert region_of("nonsense") == ""
    assert region_of("") == ""


@pytest.mark.parametrize("value", ["306948530920", "+", "+0123", "+99912345678", "", "+30 69"])
def test_country_calling_code_rejects_non_e164(value: str) -> None:
    with pytest.raises(ValueError, match=r"Not an E\.164 number"):
        country_calling_code(value)


def test_country_calling_code_does_not_need_a_valid_number() -> None:
    assert country_calling_code("+30594853092") == 30
    assert country_calling_code("+1242") == 1
    assert country_calling_code("+3581234") == 358


def test_bulk_regions_are_the_bulk_numbers_regions() -> None:
    values = [
        "+447400123456",
        "+306948530920",
        "+12015550123",
        "+14165550123",
        "+441481256789",
        "+80012345678",
    ]
    assert validate_regions(values) == [n.region for n in validate_numbers(values)]
    assert validate_regions(values) == ["GB", "GR", "US", "CA", "GG", ""]
    assert validate_regions([]) == []
    with pytest.raises(ValidationFailed) as caught:
        validate_regions(["+306948530920", "+3069", "+12"], "reminder.to")
    assert caught.value.properties == {"reminder.to": "Invalid phone number: +3069"}
    with pytest.raises(ValidationFailed):
        validate_regions("+306948530920")
