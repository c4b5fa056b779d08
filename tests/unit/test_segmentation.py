"""Segmentation into SMS parts and the body analysis of API §3.1."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from smscast.domain.encoding import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    GSM_CHARACTERS,
    decode_gsm,
    gsm_septets,
    is_gsm,
)
from smscast.domain.segmentation import (
    BodyAnalysis,
    analyse,
    characters,
    count_parts,
    encode_parts,
    segment,
)

GSM_ALPHABET = sorted(GSM_CHARACTERS)
EXTENSION_HEAVY = ["a", "€", "{", "\\", " "]
gsm_text = st.text(alphabet=st.sampled_from(GSM_ALPHABET), max_size=700) | st.text(
    alphabet=st.sampled_from(EXTENSION_HEAVY), max_size=700
)
# Unicode mixes: GSM, Greek, emoji (astral, 2 UTF-16 units) and anything else but lone surrogates, which
# have a test of their own (newer Hypothesis versions draw them from a bare ``characters()``).
mixed_text = st.text(
    alphabet=st.sampled_from(GSM_ALPHABET)
    | st.sampled_from("αβγάό€“”–…")
    | st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F)
    | st.characters(exclude_categories=["Cs"]),
    max_size=400,
)
# Surrogate code points (as json.loads("\"\\ud83d\"") produces) mixed with plain text.
surrogate_text = st.text(
    alphabet=st.sampled_from("ab€α") | st.characters(categories=["Cs"]) | st.sampled_from("\ud83d\ude00"),
    max_size=300,
)


def units(part: str) -> int:
    return len(part.encode("utf-16-be", "surrogatepass")) // 2


def cost(part: str, gsm: bool) -> int:
    return gsm_septets(part) if gsm else units(part)


def check_segments(text: str) -> list[str]:
    parts = segment(text)
    gsm = is_gsm(text)
    assert "".join(parts) == text
    assert len(parts) == count_parts(text) == analyse(text).parts
    single, multi = (160, 153) if gsm else (70, 67)
    if len(parts) == 1:
        assert cost(text, gsm) <= single
    else:
        assert cost(text, gsm) > single
        assert all(part and cost(part, gsm) <= multi for part in parts)
        # Greedy: the next part's first character (or pair) would not have fitted.
        for part, following in itertools.pairwise(parts):
            assert cost(part + following[0], gsm) > multi
    return parts


@given(gsm_text)
def test_gsm_segments(text: str) -> None:
    check_segments(text)


@given(mixed_text)
@example("a" * 66 + "😀" + "b" * 10)
def test_mixed_segments(text: str) -> None:
    check_segments(text)


@given(surrogate_text)
def test_lone_surrogates_segment_without_raising(text: str) -> None:
    parts = segment(text)
    assert "".join(parts) == text
    assert len(parts) == count_parts(text)
    assert all(units(part) <= (70 if len(parts) == 1 else 67) for part in parts)


@given(gsm_text | mixed_text)
def test_encode_parts_payloads(text: str) -> None:
    coding, payloads = encode_parts(text)
    parts = segment(text)
    assert len(payloads) == len(parts)
    if coding == DATA_CODING_GSM:
        assert is_gsm(text)
        assert [decode_gsm(p) for p in payloads] == parts
        limit = 160 if len(payloads) == 1 else 153
    else:
        assert coding == DATA_CODING_UCS2
        assert [p.decode("utf-16-be") for p in payloads] == parts
        limit = 140 if len(payloads) == 1 else 134
    assert all(len(p) <= limit for p in payloads)


@given(gsm_text | mixed_text)
def test_analysis_is_consistent(text: str) -> None:
    result = analyse(text)
    assert result.characters == characters(text)
    assert result.unicode == (not is_gsm(text))
    if result.unicode:
        assert result.characters == units(text)
        assert result.unsupported_gsm_characters
        assert len(set(result.unsupported_gsm_characters)) == len(result.unsupported_gsm_characters)
        assert all(c not in GSM_CHARACTERS for c in result.unsupported_gsm_characters)
        assert (result.transcoded_message is None) == (result.transcoded_parts is None)
        if result.transcoded_message is not None:
            assert is_gsm(result.transcoded_message)
            assert result.transcoded_parts == count_parts(result.transcoded_message)
    else:
        assert result.characters == gsm_septets(text)
        assert result.unsupported_gsm_characters == ()
        assert result.transcoded_message is None
        assert result.transcoded_parts is None


def test_hello() -> None:
    assert analyse("Hello") == BodyAnalysis(5, 1, False, (), None, None)


def test_empty_text_is_one_empty_part() -> None:
    assert segment("") == [""]
    assert count_parts("") == 1
    assert analyse("") == BodyAnalysis(0, 1, False, (), None, None)
    assert encode_parts("") == (DATA_CODING_GSM, [b""])


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("a" * 159 + "€", 2),
        ("α" * 70, 1),
        ("α" * 71, 2),
        ("α" * 134, 2),
        ("α" * 135, 3),
        ("😀" * 35, 1),
        ("😀" * 36, 2),
    ],
)
def test_part_counts(text: str, parts: int) -> None:
    assert count_parts(text) == parts
    assert len(segment(text)) == parts


def test_unicode_boundaries() -> None:
    assert analyse("α" * 70) == BodyAnalysis(70, 1, True, ("α",), "A" * 70, 1)
    result = analyse("α" * 71)
    assert (result.characters, result.parts, result.unicode) == (71, 2, True)


def test_escape_pair_is_never_split() -> None:
    # Alone, "a" * 152 + "€" is 154 septets: one part. Longer, the € does not fit after 152 septets.
    assert segment("a" * 152 + "€") == ["a" * 152 + "€"]
    text = "a" * 152 + "€" + "a" * 10
    parts = segment(text)
    assert parts == ["a" * 152, "€" + "a" * 10]
    assert count_parts(text) == 2


def test_escape_pairs_make_more_parts_than_the_length_suggests() -> None:
    text = "€" * 160  # 320 septets; 153 septets hold only 76 escape pairs
    assert characters(text) == 320
    assert [len(p) for p in segment(text)] == [76, 76, 8]
    assert count_parts(text) == 3
    coding, payloads = encode_parts(text)
    assert coding == DATA_CODING_GSM
    assert [len(p) for p in payloads] == [152, 152, 16]


def test_surrogate_pair_is_never_split() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    assert characters(text) == 78
    assert segment(text) == ["a" * 66, "😀" + "b" * 10]
    coding, payloads = encode_parts(text)
    assert coding == DATA_CODING_UCS2
    assert [len(p) for p in payloads] == [132, 24]


def test_unsupported_characters_once_each_in_order() -> None:
    result = analyse("x😀€αα😀β`")
    assert result.unsupported_gsm_characters == ("😀", "α", "β", "`")


def test_transcode_offered_only_when_every_character_maps() -> None:
    assert analyse("Καλημέρα").transcoded_message == "KAΛHMEPA"
    result = analyse("“Hi” — 😀")
    assert result.unicode
    assert result.transcoded_message is None
    assert result.transcoded_parts is None
