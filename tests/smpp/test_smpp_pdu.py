"""PDU encoding against golden bytes (cross-checked with node-smpp 0.5.1's encoder), round trips, framing."""

from __future__ import annotations

import pytest

from smscast.smpp import constants as c
from smscast.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    PduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
    decode_pdu,
)
from smscast.smpp.tlv import cstring_value, get_cstring, get_int, int_value

GOLDEN_BIND_TRANSCEIVER = "00000024000000090000000000000001736d736361737400736563726574000034000000"
GOLDEN_SUBMIT_SM_UDH = (
    "0000003c00000004000000000000000200050041636d650001013330363931323334353637380040000000000100"
    "00000b0500032a020148656c6c6f"
)
RECEIPT_TEXT = (
    b"id:0000000001 sub:001 dlvrd:001 submit date:2611271530 done date:2611271530 stat:DELIVRD err:000"
    b" text:Hello"
)
GOLDEN_DELIVER_SM_RECEIPT = (
    "000000b000000005000000000000000300010133303639313233343536373800050041636d65000400000000000000006b"
    + RECEIPT_TEXT.hex()
    + "001e000b30303030303030303031000427000102"
)
GOLDEN_ENQUIRE_LINK = "00000010000000150000000000000004"
GOLDEN_GENERIC_NACK = "00000010800000000000000300000005"
GOLDEN_SUBMIT_SM_RESP = "0000001b8000000400000000000000023030303030303030303100"
GOLDEN_BIND_TRANSCEIVER_RESP = "0000001c800000090000000000000001736d73636173742d73696d00"


def golden_pdus() -> list[tuple[str, object]]:
    return [
        (GOLDEN_BIND_TRANSCEIVER, BindTransceiver("smscast", "secret", sequence_number=1)),
        (
            GOLDEN_SUBMIT_SM_UDH,
            SubmitSm(
                source_addr_ton=5, source_addr_npi=0, source_addr="Acme",
                dest_addr_ton=1, dest_addr_npi=1, destination_addr="306912345678",
                esm_class=0x40, registered_delivery=1, data_coding=0,
                short_message=bytes.fromhex("0500032a0201") + b"Hello", sequence_number=2,
            ),
        ),
        (
            GOLDEN_DELIVER_SM_RECEIPT,
            DeliverSm(
                source_addr_ton=1, source_addr_npi=1, source_addr="306912345678",
                dest_addr_ton=5, dest_addr_npi=0, destination_addr="Acme", esm_class=0x04,
                short_message=RECEIPT_TEXT,
                tlvs={c.TAG_RECEIPTED_MESSAGE_ID: b"0000000001\x00", c.TAG_MESSAGE_STATE: b"\x02"},
                sequence_number=3,
            ),
        ),
        (GOLDEN_ENQUIRE_LINK, EnquireLink(4)),
        (GOLDEN_GENERIC_NACK, GenericNack(c.ESME_RINVCMDID, 5)),
        (GOLDEN_SUBMIT_SM_RESP, SubmitSmResp("0000000001", c.ESME_ROK, 2)),
        (GOLDEN_BIND_TRANSCEIVER_RESP, BindTransceiverResp("smscast-sim", sequence_number=1)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("golden", "pdu"), golden_pdus(), ids=lambda v: type(v).__name__ if not isinstance(v, str) else ""
)
def test_encode_matches_golden_bytes(golden: str, pdu: object) -> None:
    assert pdu.encode().hex() == golden  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("golden", "pdu"), golden_pdus(), ids=lambda v: type(v).__name__ if not isinstance(v, str) else ""
)
def test_decode_golden_bytes(golden: str, pdu: object) -> None:
    assert decode_pdu(bytes.fromhex(golden)) == pdu


def test_golden_header_fields_by_hand() -> None:
    data = bytes.fromhex(GOLDEN_BIND_TRANSCEIVER)
    assert int.from_bytes(data[0:4], "big") == len(data) == 36
    assert data[4:8] == b"\x00\x00\x00\x09"  # bind_transceiver
    assert data[16:] == b"smscast\x00secret\x00\x00\x34\x00\x00\x00"


ROUND_TRIP = [
    BindTransmitter("sys", "pw", "VMA", 0x34, 1, 1, "^30", 7),
    BindReceiver("sys", "pw", sequence_number=8),
    BindTransceiverResp("smsc", {c.TAG_SC_INTERFACE_VERSION: b"\x34"}, c.ESME_ROK, 9),
    BindTransceiverResp(command_status=c.ESME_RINVPASWD, sequence_number=10),
    Unbind(11),
    UnbindResp(c.ESME_ROK, 11),
    EnquireLinkResp(c.ESME_ROK, 12),
    SubmitSm(
        service_type="CMT", source_addr="12345", destination_addr="306900000000", esm_class=0x40,
        protocol_id=0, priority_flag=1, schedule_delivery_time="", validity_period="000001000000000R",
        registered_delivery=1, data_coding=8, short_message="Καλημέρα".encode("utf-16-be"),
        tlvs={c.TAG_SAR_MSG_REF_NUM: b"\x01\x02", 0x1401: b"vendor"}, sequence_number=0x7FFFFFFF,
    ),
    SubmitSmResp(command_status=c.ESME_RTHROTTLED, sequence_number=13),
    DeliverSmResp("", c.ESME_RX_T_APPN, 14),
    DeliverSm(short_message=bytes(range(254)), sequence_number=15),
    UnknownPdu(0x00000102, 0, 16, b"\x01\x02"),
]  # fmt: skip


@pytest.mark.parametrize("pdu", ROUND_TRIP, ids=lambda p: type(p).__name__)
def test_round_trip(pdu: object) -> None:
    assert decode_pdu(pdu.encode()) == pdu  # type: ignore[attr-defined]


def test_error_response_has_no_body() -> None:
    assert len(SubmitSmResp(command_status=c.ESME_RTHROTTLED, sequence_number=1).encode()) == 16
    # and an empty body decodes to an empty message_id
    assert decode_pdu(bytes.fromhex("00000010800000040000005800000001")) == SubmitSmResp("", 0x58, 1)


def test_unterminated_message_id_in_response_is_tolerated() -> None:
    data = bytes.fromhex("00000013800000040000000000000001616263")
    assert decode_pdu(data) == SubmitSmResp("abc", 0, 1)


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(source_addr="x" * 21),
        SubmitSm(destination_addr="a\x00b"),
        SubmitSm(destination_addr="€"),
        SubmitSm(esm_class=256),
        SubmitSm(short_message=b"x" * 255),
        SubmitSm(validity_period="1 day"),
        SubmitSm(tlvs={0x10000: b""}),
        SubmitSm(sequence_number=-1),
        BindTransceiver(password="longer-than-8"),
        EnquireLink(2**32),
    ],
    ids=lambda p: repr(p)[:40],
)
def test_encode_rejects_what_the_wire_cannot_carry(pdu: object) -> None:
    with pytest.raises(PduError):
        pdu.encode()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "hexdata",
    [
        "",
        "0000000f000000150000000000000001",  # length says 15, data has 16
        "00000011000000150000000000000001",  # length says 17
        "000000110000000400000000000000010a",  # submit_sm body cut short
        "0000001480000009000000000000000161626364",  # bind resp system_id unterminated
        "0000001a00000004000000000000000100000000000000000000000000",  # sm_length absent
        "000000180000000500000000000000010001",  # deliver_sm addr unterminated
    ],
)
def test_decode_rejects_malformed_input(hexdata: str) -> None:
    with pytest.raises(PduError):
        decode_pdu(bytes.fromhex(hexdata))


def test_truncated_tlv_is_rejected() -> None:
    good = SubmitSm(tlvs={c.TAG_MESSAGE_STATE: b"\x02"}).encode()
    bad = good[:-1]
    bad = len(bad).to_bytes(4, "big") + bad[4:]
    with pytest.raises(PduError):
        decode_pdu(bad)


def test_reader_handles_any_chunking() -> None:
    stream = b"".join(pdu.encode() for _, pdu in golden_pdus())  # type: ignore[attr-defined]
    expected = [pdu for _, pdu in golden_pdus()]
    for size in (1, 2, 3, 7, 16, 17, 100, len(stream)):
        reader = PduReader()
        got: list[object] = []
        for i in range(0, len(stream), size):
            got.extend(reader.feed(stream[i : i + size]))
        assert got == expected, size
        assert reader.buffered == 0


def test_reader_returns_undecodable_frames_as_bytes() -> None:
    bad = bytes.fromhex("000000110000000400000000000000010a")
    reader = PduReader()
    assert reader.feed(bad + EnquireLink(2).encode()) == [bad, EnquireLink(2)]


@pytest.mark.parametrize("length", [0, 15, 64 * 1024 + 1, 0xFFFFFFFF])
def test_reader_rejects_insane_lengths_for_good(length: int) -> None:
    reader = PduReader()
    with pytest.raises(PduError):
        reader.feed(length.to_bytes(4, "big") + b"\x00" * 12)
    with pytest.raises(PduError):
        reader.feed(EnquireLink(1).encode())


def test_reader_accepts_64_kib_pdu() -> None:
    pdu = UnknownPdu(0x00000102, 0, 1, b"\x00" * (64 * 1024 - 16))
    assert PduReader().feed(pdu.encode()) == [pdu]


def test_tlv_helpers() -> None:
    tlvs = {1: int_value(0x0102, 2), 2: cstring_value("abc"), 3: b"abc", 4: b"\x01\x02\x03"}
    assert get_int(tlvs, 1) == 0x0102
    assert get_int(tlvs, 4) is None
    assert get_int(tlvs, 9) is None
    assert get_cstring(tlvs, 2) == "abc"
    assert get_cstring(tlvs, 3) == "abc"
    assert get_cstring(tlvs, 9) is None
    with pytest.raises(ValueError):
        int_value(256, 1)
    with pytest.raises(ValueError):
        cstring_value("a\x00")


def test_status_names() -> None:
    assert c.status_name(0x58) == "ESME_RTHROTTLED"
    assert c.status_name(0x12345) == "0x00012345"
