"""parse_receipt: TLVs first, forgiving text parsing, never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm
from smscast.smpp.receipts import Receipt, parse_receipt, parse_receipt_date

STANDARD = (
    "id:1234567890 sub:001 dlvrd:001 submit date:2611271530 done date:2611271531 stat:DELIVRD err:000 "
    "text:Hello world"
)


def receipt_pdu(text: str | bytes, tlvs: dict[int, bytes] | None = None, esm_class: int = 0x04) -> DeliverSm:
    raw = text.encode("latin-1") if isinstance(text, str) else text
    return DeliverSm(esm_class=esm_class, short_message=raw, tlvs=tlvs or {})


def test_standard_text() -> None:
    assert parse_receipt(receipt_pdu(STANDARD)) == Receipt(
        message_id="1234567890", stat="DELIVRD", err="000", submit_date="2611271530",
        done_date="2611271531", text="Hello world",
    )  # fmt: skip


def test_tlvs_win_over_text() -> None:
    tlvs = {c.TAG_RECEIPTED_MESSAGE_ID: b"abcdef\x00", c.TAG_MESSAGE_STATE: b"\x05"}
    receipt = parse_receipt(receipt_pdu(STANDARD, tlvs))
    assert receipt is not None
    assert (receipt.message_id, receipt.stat) == ("abcdef", "UNDELIV")


@pytest.mark.parametrize(("state", "stat"), sorted(c.MESSAGE_STATES.items()))
def test_message_state_names(state: int, stat: str) -> None:
    receipt = parse_receipt(receipt_pdu("", {c.TAG_MESSAGE_STATE: bytes([state])}))
    assert receipt is not None
    assert receipt.stat == stat


def test_not_a_receipt() -> None:
    assert parse_receipt(receipt_pdu(STANDARD, esm_class=0x00)) is None
    assert parse_receipt(receipt_pdu(STANDARD, esm_class=0x08)) is None  # SME delivery ack


def test_receipt_bit_with_udhi_set_is_still_a_receipt() -> None:
    assert parse_receipt(receipt_pdu(STANDARD, esm_class=0x44)) is not None


def test_twelve_digit_dates_hex_err_and_odd_case() -> None:
    text = (
        "ID:0A1B2C SUB:1 DLVRD:0 SUBMIT DATE:261127153012 DONE DATE:261127153112 STAT:undeliv ERR:0x1A TEXT:x"
    )
    receipt = parse_receipt(receipt_pdu(text))
    assert receipt == Receipt("0A1B2C", "UNDELIV", "0x1A", "261127153012", "261127153112", "x")
    assert receipt.err_code == 0x1A


@pytest.mark.parametrize(
    ("err", "code"), [("000", 0), ("069", 69), ("00A", 10), ("0x1f", 31), ("zz", None), ("", None)]
)
def test_err_code(err: str, code: int | None) -> None:
    assert Receipt("", "DELIVRD", err, None, None, "").err_code == code


def test_missing_fields() -> None:
    receipt = parse_receipt(receipt_pdu("id:42 stat:EXPIRED"))
    assert receipt == Receipt("42", "EXPIRED", "", None, None, "")


def test_bad_dates_become_none() -> None:
    receipt = parse_receipt(receipt_pdu("id:1 submit date:tomorrow done date:26112715 stat:DELIVRD"))
    assert receipt is not None
    assert (receipt.submit_date, receipt.done_date) == (None, None)


def test_garbage_is_unknown() -> None:
    assert parse_receipt(receipt_pdu(b"\xff\x00garbage")) == Receipt("", "UNKNOWN", "", None, None, "")


def test_text_in_message_payload_and_network_error_code() -> None:
    tlvs = {c.TAG_MESSAGE_PAYLOAD: b"id:77 stat:UNDELIV", c.TAG_NETWORK_ERROR_CODE: b"\x03\x00\x22"}
    receipt = parse_receipt(receipt_pdu(b"", tlvs))
    assert receipt == Receipt("77", "UNDELIV", "34", None, None, "")


def test_text_field_keeps_colons() -> None:
    receipt = parse_receipt(receipt_pdu("id:1 stat:DELIVRD err:000 text:code: 1234 id:not-this"))
    assert receipt is not None
    assert receipt.message_id == "1"
    assert receipt.text == "code: 1234 id:not-this"


def test_parse_receipt_date() -> None:
    assert parse_receipt_date("2611271530") == datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert parse_receipt_date("261127153045") == datetime(2026, 11, 27, 15, 30, 45, tzinfo=UTC)
    assert parse_receipt_date("2613271530") is None
    assert parse_receipt_date(None) is None


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from([0x1E, 0x0427, 0x0423, 0x0424]), st.binary(max_size=8)),
)
def test_never_raises(data: bytes, tlvs: dict[int, bytes]) -> None:
    receipt = parse_receipt(receipt_pdu(data, tlvs))
    assert receipt is not None
    assert receipt.stat.isupper() or receipt.stat == receipt.stat.upper()


@pytest.mark.parametrize(
    "text",
    [
        "id:9 sub:001 dlvrd:001 submit date:2611271530 done date:2611271531 stat:DELIVRD err:000",
        "id:9 sub:001 dlvrd:001 submit date:2611271530 done date:2611271531 stat:DELIVRD err:000 text:",
        "ID:9 SUB:001 DLVRD:001 SUBMIT DATE:2611271530 DONE DATE:2611271531 STAT:delivrd ERR:000 Text:hi",
        "id:9  sub:001 dlvrd:001 submit_date:2611271530 done_date:2611271531 stat:DELIVRD err:000 text:hi",
    ],
)
def test_standard_layout_and_its_variants_agree(text: str) -> None:
    receipt = parse_receipt(receipt_pdu(text))
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err) == ("9", "DELIVRD", "000")
    assert (receipt.submit_date, receipt.done_date) == ("2611271530", "2611271531")
    assert receipt.text in ("", "hi")
