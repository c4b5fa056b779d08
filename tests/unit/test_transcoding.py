"""GSM look-alike transcoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscast.domain.encoding import GSM_CHARACTERS, is_gsm
from smscast.domain.transcoding import transcode

GSM_ALPHABET = sorted(GSM_CHARACTERS)
text_with_look_alikes = st.text(
    alphabet=st.sampled_from(GSM_ALPHABET) | st.sampled_from("αβγδάέήίόύώϊϋΐΰςΆΈΉΊΌΎΏ‘’“”«»–—…\u00a0áőșçł•"),
    max_size=300,
)


@given(st.text(max_size=300) | text_with_look_alikes)
def test_result_is_gsm_whenever_offered(text: str) -> None:
    result = transcode(text)
    if result is not None:
        assert is_gsm(result)


@given(st.text(alphabet=st.sampled_from(GSM_ALPHABET), max_size=300))
def test_gsm_text_is_kept(text: str) -> None:
    assert transcode(text) == text


@given(text_with_look_alikes, text_with_look_alikes)
def test_transcoding_is_per_character(a: str, b: str) -> None:
    ta, tb = transcode(a), transcode(b)
    assert ta is not None
    assert tb is not None
    assert transcode(a + b) == ta + tb


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Greek lowercase → capital; GSM's capitals stay, others become Latin look-alikes.
        ("αβγδεζηθικλμνξοπρστυφχψω", "ABΓΔEZHΘIKΛMNΞOΠPΣTYΦXΨΩ"),
        ("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", "ABΓΔEZHΘIKΛMNΞOΠPΣTYΦXΨΩ"),
        ("άέήίόύώϊϋΐΰ", "AEHIOYΩIYIY"),
        ("ΆΈΉΊΌΎΏΪΫ", "AEHIOYΩIY"),
        ("ς", "Σ"),
        ("Γειά σου", "ΓEIA ΣOY"),
        # Typography.
        ("‘a’ ‚b‛ c′", "'a' 'b' c'"),
        ("“a” „b‟ c″ «d»", '"a" "b" c" "d"'),
        ("a‐b‑c‒d–e—f―g", "a-b-c-d-e-f-g"),
        ("wait…", "wait..."),
        ("a\u00a0b\u2009c\u202fd\u3000e", "a b c d e"),
        ("• item", "* item"),
        ("a`b", "a'b"),
        ("soft\u00adhyphen\u200b", "softhyphen"),
        # Latin letters: GSM's own accented letters stay, others lose their marks.
        ("éèüñÄÖÑÜàìòùÇÉ", "éèüñÄÖÑÜàìòùÇÉ"),
        ("ç", "Ç"),
        ("áâãíóôõúûý", "aaaiooouuy"),
        ("ÁÂÍÓÚ", "AAIOU"),
        ("ő ș ț ł Ł đ œ", "o s t l L d oe"),
        ("Ελληνικά — “ναι”…", 'EΛΛHNIKA - "NAI"...'),
    ],
)
def test_mappings(source: str, expected: str) -> None:
    assert transcode(source) == expected


@pytest.mark.parametrize("source", ["😀", "Hi 😀", "日本", "Привет", "25°C", "™", "a\x1bb"])
def test_no_transcoding_when_any_character_has_no_look_alike(source: str) -> None:
    assert transcode(source) is None
