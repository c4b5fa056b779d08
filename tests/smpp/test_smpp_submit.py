"""build_submit_sms, encode_submit_part and relative_validity_period."""

from __future__ import annotations

import string
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscast.smpp import constants as c
from smscast.smpp.pdu import PduError
from smscast.smpp.submit import (
    SubmitFields,
    build_submit_part,
    build_submit_sms,
    encode_submit_part,
    relative_validity_period,
    source_ton_npi,
)


def test_single_part_alphanumeric_sender() -> None:
    (pdu,) = build_submit_sms(
        source_addr="Acme", destination_addr="+306912345678", data_coding=0, parts=[b"Hi"], ref=7
    )
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("Acme", 5, 0)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("306912345678", 1, 1)
    assert pdu.esm_class == 0
    assert pdu.short_message == b"Hi"
    assert pdu.registered_delivery == 1
    assert pdu.tlvs == {}
    assert pdu.sequence_number == 0


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("+306912345678", ("306912345678", 1, 1)),
        ("306912345678", ("306912345678", 1, 1)),
        ("Acme Ltd", ("Acme Ltd", 5, 0)),
        ("12ab", ("12ab", 5, 0)),
        ("٣٤٥", ("٣٤٥", 5, 0)),  # non-ASCII digits are not a phone number
    ],
)
def test_source_ton_npi(sender: str, expected: tuple[str, int, int]) -> None:
    assert source_ton_npi(sender) == expected


def test_udh_concatenation() -> None:
    parts = [b"a" * 153, b"b" * 153, b"c" * 10]
    pdus = build_submit_sms(
        source_addr="Acme", destination_addr="3069", data_coding=0, parts=parts, ref=0x1A2
    )
    assert len(pdus) == 3
    for seq, (pdu, part) in enumerate(zip(pdus, parts, strict=True), start=1):
        assert pdu.esm_class & c.ESM_CLASS_UDHI
        assert pdu.short_message == bytes([5, 0, 3, 0xA2, 3, seq]) + part
        assert pdu.tlvs == {}


def test_sar_concatenation() -> None:
    pdus = build_submit_sms(
        source_addr="Acme", destination_addr="3069", data_coding=8, parts=[b"\x00a", b"\x00b"], ref=0x1A2B3,
        concat="sar",
    )  # fmt: skip
    for seq, pdu in enumerate(pdus, start=1):
        assert pdu.esm_class == 0
        assert pdu.short_message in (b"\x00a", b"\x00b")
        assert pdu.tlvs == {
            c.TAG_SAR_MSG_REF_NUM: b"\xa2\xb3",
            c.TAG_SAR_TOTAL_SEGMENTS: b"\x02",
            c.TAG_SAR_SEGMENT_SEQNUM: bytes([seq]),
        }
        pdu.encode()


@pytest.mark.parametrize(("dcs", "flash_dcs"), [(0x00, 0x10), (0x08, 0x18)])
def test_flash(dcs: int, flash_dcs: int) -> None:
    (pdu,) = build_submit_sms(
        source_addr="Acme", destination_addr="3069", data_coding=dcs, parts=[b"x"], flash=True, ref=0
    )
    assert pdu.data_coding == flash_dcs


def test_options_pass_through() -> None:
    (pdu,) = build_submit_sms(
        source_addr="Acme", destination_addr="3069", data_coding=0, parts=[b"x"], ref=0,
        registered_delivery=0, validity_period="000001000000000R",
    )  # fmt: skip
    assert pdu.registered_delivery == 0
    assert pdu.validity_period == "000001000000000R"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"parts": []},
        {"parts": [b"x"] * 256},
        {"parts": [b"x" * 255]},
        {"parts": [b"x" * 249, b"y"]},  # 249 + 6 octets of UDH > 254
        {"parts": [b"x"], "flash": True, "data_coding": 0x03},
    ],
)
def test_rejects_impossible_messages(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"source_addr": "Acme", "destination_addr": "3069", "data_coding": 0, "ref": 0}
    args.update(kwargs)
    with pytest.raises(ValueError):
        build_submit_sms(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (1, "000000000100000R"),
        (90, "000000013000000R"),
        (1440, "000001000000000R"),
        (2 * 1440 + 3 * 60 + 4, "000002030400000R"),
        (99 * 1440, "000099000000000R"),
    ],
)
def test_relative_validity_period(minutes: int, expected: str) -> None:
    assert relative_validity_period(minutes) == expected
    assert len(expected) == 16


@pytest.mark.parametrize("minutes", [0, -5, 99 * 1440 + 1])
def test_relative_validity_period_range(minutes: int) -> None:
    with pytest.raises(ValueError):
        relative_validity_period(minutes)


_SENDERS = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=15).map(lambda d: "+" + d),
    st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=1, max_size=11),
)


@settings(max_examples=300, deadline=None)
@given(
    sender=_SENDERS,
    destination=st.text(alphabet="0123456789", min_size=1, max_size=15).map(lambda d: "+" + d),
    coding=st.sampled_from([c.DATA_CODING_DEFAULT, c.DATA_CODING_UCS2]),
    payload=st.binary(min_size=0, max_size=140),
    shape=st.integers(1, 4).flatmap(lambda total: st.tuples(st.just(total), st.integers(1, total))),
    flash=st.booleans(),
    validity=st.sampled_from(["", relative_validity_period(90)]),
    concat=st.sampled_from(["udh", "sar"]),
    ref=st.integers(0, 0xFFFF),
)
def test_encoded_part_is_the_built_pdu_encoded(
    sender: str,
    destination: str,
    coding: int,
    payload: bytes,
    shape: tuple[int, int],
    flash: bool,
    validity: str,
    concat: Literal["udh", "sar"],
    ref: int,
) -> None:
    """The campaign hot path (a cached template per part shape) sends exactly the bytes of the PDU object."""
    total, seqnum = shape
    fields = SubmitFields(
        source_addr=sender,
        destination_addr=destination,
        data_coding=coding,
        payload=payload[: 134 if total > 1 else 140],
        seqnum=seqnum,
        total=total,
        flash=flash,
        registered_delivery=1,
        validity_period=validity,
        concat=concat,
        ref=ref,
    )
    assert encode_submit_part(fields) == build_submit_part(**fields).encode()


def test_encoded_part_refuses_what_the_pdu_refuses() -> None:
    fields = SubmitFields(
        source_addr="ACME",
        destination_addr="+" + "1" * 21,
        data_coding=0,
        payload=b"hi",
        seqnum=1,
        total=1,
        flash=False,
        registered_delivery=1,
        validity_period="",
        concat="udh",
        ref=0,
    )
    with pytest.raises(PduError):
        encode_submit_part(fields)
    with pytest.raises(PduError):
        build_submit_part(**fields).encode()
    with pytest.raises(ValueError, match="part 2 of 1"):
        encode_submit_part({**fields, "destination_addr": "+301", "seqnum": 2})
