"""The sender rules of API §3.4, each at its boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscast.domain.errors import InvalidSenderOrRecipients
from smscast.domain.sender import validate_sender


@pytest.mark.parametrize(
    "sender",
    [
        "7",  # 1 digit
        "447123123456",
        "1" * 16,  # numeric maximum
        "12345678901",  # all digits at the alphanumeric length: numeric rule applies
        "123456789012",  # all digits beyond 11: still numeric
        "A",  # 1 letter
        "Routee",
        "ABCDEFGHIJK",  # 11 characters: alphanumeric maximum
        "My Shop 24",
        "a1",
        "1a",
        " A ",  # spaces are kept, even leading and trailing
        "A         1",  # 11 with inner spaces
        "0",
        "0000000000000000",
    ],
)
def test_valid_senders_are_returned_unchanged(sender: str) -> None:
    assert validate_sender(sender) is sender


@pytest.mark.parametrize(
    ("sender", "explanation"),
    [
        ("", "must not be empty"),
        ("1" * 17, "at most 16 digits"),
        ("+447123123456", "without '+'"),
        ("+", "without '+'"),
        ("+Routee", "without '+'"),
        ("ABCDEFGHIJKL", "at most 11 characters"),  # 12 alphanumeric characters
        ("A2345678901 ", "at most 11 characters"),
        ("Shop-24", "only latin letters, digits and spaces"),
        ("Shop_24", "only latin letters, digits and spaces"),
        ("Shop.gr", "only latin letters, digits and spaces"),
        ("Shop!", "only latin letters, digits and spaces"),
        ("Καφές", "only latin letters, digits and spaces"),  # Greek letters
        ("Café", "only latin letters, digits and spaces"),  # accented latin is not [A-Za-z]
        ("Магазин", "only latin letters, digits and spaces"),
        ("١٢٣", "only latin letters, digits and spaces"),  # Arabic-Indic digits are not digits here
        ("Shop\t24", "only latin letters, digits and spaces"),
        ("Shop\n", "only latin letters, digits and spaces"),
        (" ", "at least one latin letter"),  # spaces only
        ("           ", "at least one latin letter"),
        ("123 456", "at least one latin letter"),  # digits and spaces but no letter
        (" 123", "at least one latin letter"),
    ],
)
def test_invalid_senders_raise_400005000_naming_from(sender: str, explanation: str) -> None:
    with pytest.raises(InvalidSenderOrRecipients) as caught:
        validate_sender(sender)
    assert caught.value.code == "400005000"
    assert caught.value.message == "The sender is invalid"
    assert set(caught.value.properties) == {"from"}
    assert explanation in caught.value.properties["from"]


@pytest.mark.parametrize("value", [None, 447123123456, 12.5, b"Routee", ["Routee"], {"from": "x"}, True])
def test_non_strings_are_invalid(value: object) -> None:
    with pytest.raises(InvalidSenderOrRecipients) as caught:
        validate_sender(value)
    assert caught.value.properties == {"from": "The sender must be a string"}


LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _is_valid_by_spec(value: str) -> bool:
    """§3.4 restated as plainly as possible, as an oracle."""
    numeric = 1 <= len(value) <= 16 and all(c in "0123456789" for c in value)
    alphanumeric = (
        1 <= len(value) <= 11
        and all(c in LATIN or c in "0123456789 " for c in value)
        and any(c in LATIN for c in value)
    )
    return numeric or alphanumeric


@given(st.text(alphabet=st.sampled_from([*"aZ09 +-_.é€Ω\t", "٣"]), max_size=20))
def test_agrees_with_the_rules_as_written(value: str) -> None:
    try:
        result = validate_sender(value)
    except InvalidSenderOrRecipients:
        assert not _is_valid_by_spec(value)
    else:
        assert _is_valid_by_spec(value)
        assert result == value
