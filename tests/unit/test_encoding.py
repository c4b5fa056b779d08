"""GSM 03.38 tables and the GSM / UCS-2 codecs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscast.domain.encoding import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    GSM_BASIC,
    GSM_CHARACTERS,
    GSM_EXTENSION,
    count_extension,
    decode_gsm,
    decode_ucs2,
    encode_gsm,
    encode_ucs2,
    gsm_septets,
    is_gsm,
    non_gsm_characters,
    utf16_units,
)

GSM_ALPHABET = sorted(GSM_CHARACTERS)
gsm_text = st.text(alphabet=st.sampled_from(GSM_ALPHABET), max_size=400)
# Text with no surrogate code points (hypothesis excludes category Cs by default).
any_text = st.text(max_size=200)
septet_bytes = st.binary(max_size=300).map(lambda b: bytes(x & 0x7F for x in b))


def test_basic_table_is_128_distinct_characters_at_their_septet() -> None:
    assert len(GSM_BASIC) == 128
    assert len(set(GSM_BASIC)) == 128
    spot_checks = {
        0x00: "@", 0x01: "£", 0x02: "$", 0x03: "¥", 0x04: "è", 0x05: "é", 0x09: "Ç", 0x0A: "\n",
        0x0B: "Ø", 0x0C: "ø", 0x0D: "\r", 0x0E: "Å", 0x0F: "å", 0x10: "Δ", 0x11: "_", 0x1B: "\x1b",
        0x1C: "Æ", 0x1F: "É", 0x24: "¤", 0x40: "¡", 0x5B: "Ä", 0x5F: "§", 0x60: "¿", 0x7F: "à",
    }  # fmt: skip
    for septet, char in spot_checks.items():
        assert GSM_BASIC[septet] == char


def test_extension_table() -> None:
    assert GSM_EXTENSION == {
        "\x0c": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
        "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
    }  # fmt: skip


def test_tables_match_the_gsm0338_package_when_installed() -> None:
    pytest.importorskip("gsm0338")  # optional oracle, registers the "gsm03.38" codec
    for septet, char in enumerate(GSM_BASIC):
        if septet != 0x1B:
            assert char.encode("gsm03.38") == bytes([septet])
            assert encode_gsm(char) == bytes([septet])
    for char, code in GSM_EXTENSION.items():
        assert char.encode("gsm03.38") == encode_gsm(char) == bytes([0x1B, code])


def test_is_gsm() -> None:
    assert is_gsm("")
    assert is_gsm("Hello @£$ ΔΦ {}[]~|^\\€\f\n\r")
    assert not is_gsm("`")  # the only printable ASCII character outside GSM
    assert not is_gsm("\t")
    assert not is_gsm("\x1b")  # the escape is not text
    assert not is_gsm("α")
    assert not is_gsm("Hello 😀")
    assert not is_gsm("ç")  # GSM has only the capital Ç


def test_septets_count_extension_characters_twice() -> None:
    assert gsm_septets("") == 0
    assert gsm_septets("Hello") == 5
    assert gsm_septets("€") == 2
    assert gsm_septets("{a}") == 5
    assert count_extension("^{}\\[~]|€\f") == 10
    with pytest.raises(ValueError):
        gsm_septets("α")


def test_encode_examples() -> None:
    assert encode_gsm("@£$") == b"\x00\x01\x02"
    assert encode_gsm("A€") == b"\x41\x1b\x65"
    assert encode_gsm("") == b""
    with pytest.raises(ValueError):
        encode_gsm("a`b")


def test_decode_edge_cases() -> None:
    assert decode_gsm(b"\x1b\x41") == "A"  # undefined escape code: the basic character
    assert decode_gsm(b"a\x1b\x1bb") == "a b"  # 0x1B 0x1B (reserved) shows a space
    assert decode_gsm(b"\x61\x1b") == "a "  # truncated escape at the end
    with pytest.raises(ValueError):
        decode_gsm(b"\x80")


@given(gsm_text)
def test_gsm_round_trip(text: str) -> None:
    data = encode_gsm(text)
    assert len(data) == gsm_septets(text)
    assert all(b < 0x80 for b in data)
    assert decode_gsm(data) == text


@given(gsm_text)
def test_septets_are_length_plus_extension(text: str) -> None:
    assert gsm_septets(text) == len(text) + sum(1 for c in text if c in GSM_EXTENSION)


@given(any_text)
def test_is_gsm_agrees_with_the_character_set(text: str) -> None:
    assert is_gsm(text) == all(c in GSM_CHARACTERS for c in text)
    expected = tuple(dict.fromkeys(c for c in text if c not in GSM_CHARACTERS))
    assert non_gsm_characters(text) == expected


@given(septet_bytes)
def test_decode_never_raises_below_0x80(data: bytes) -> None:
    decoded = decode_gsm(data)
    assert is_gsm(decoded)


@given(any_text)
def test_ucs2_round_trip(text: str) -> None:
    data = encode_ucs2(text)
    assert len(data) == 2 * utf16_units(text)
    assert decode_ucs2(data) == text


def test_ucs2_astral_is_a_surrogate_pair() -> None:
    assert encode_ucs2("😀") == b"\xd8\x3d\xde\x00"
    assert utf16_units("a😀") == 3
    assert encode_ucs2("\ud83d") == b"\xd8\x3d"  # a lone surrogate passes through instead of raising


@given(st.binary(max_size=200))
def test_decode_ucs2_never_raises(data: bytes) -> None:
    decode_ucs2(data)


def test_data_codings() -> None:
    assert (DATA_CODING_GSM, DATA_CODING_UCS2) == (0, 8)
