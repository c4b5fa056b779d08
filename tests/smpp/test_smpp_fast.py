"""The fast paths equal the general code (hypothesis): `FastPduReader` vs `PduReader`, `deliver_sm_resp` vs
`DeliverSmResp.encode`, `receipt_report` and `parse_receipt` vs the parser they replaced (kept below as the
reference), and the carrier's part encoding vs `build_submit_part(...).encode()`."""

from __future__ import annotations

import itertools
import re
import string
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.smpp.strategies import mutated

from smscast.carriers.base import OutboundPart
from smscast.carriers.smpp import SmppCarrier
from smscast.smpp import constants as c
from smscast.smpp.fast import FastPduReader, ReceiptSm, deliver_sm_resp
from smscast.smpp.pdu import (
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    Pdu,
    PduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smscast.smpp.receipts import Receipt, parse_receipt, receipt_report
from smscast.smpp.submit import SubmitFields, build_submit_part, encode_submit_part, relative_validity_period
from smscast.smpp.tlv import get_cstring, get_int

# --- the receipt parser as it was before the fast path (the reference) ----------------------------
_FIELD = re.compile(
    r"\b(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err)\s*:\s*(\S*)|\btext\s*:(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_STANDARD = re.compile(
    r"id:(\S*) sub:\S* dlvrd:\S* submit date:(\S*) done date:(\S*) stat:(\S*) err:(\S*)(?: text:(.*))?$",
    re.IGNORECASE | re.DOTALL,
)
_DATE = re.compile(r"^\d{10}(\d{2})?$")


def reference_parse_receipt(pdu: DeliverSm) -> Receipt | None:
    if pdu.esm_class & c.ESM_CLASS_MESSAGE_TYPE_MASK != c.ESM_CLASS_DELIVERY_RECEIPT:
        return None
    body = pdu.short_message or pdu.tlvs.get(c.TAG_MESSAGE_PAYLOAD, b"")
    fields = _reference_text_fields(body.decode("latin-1"))
    message_id = get_cstring(pdu.tlvs, c.TAG_RECEIPTED_MESSAGE_ID) or fields.get("id", "")
    state = get_int(pdu.tlvs, c.TAG_MESSAGE_STATE)
    if state is not None and state in c.MESSAGE_STATES:
        stat = c.MESSAGE_STATES[state]
    else:
        stat = fields.get("stat", "").upper() or "UNKNOWN"
    err = fields.get("err", "")
    if not err:
        network_error = pdu.tlvs.get(c.TAG_NETWORK_ERROR_CODE)
        if network_error is not None and len(network_error) == 3:
            err = str(int.from_bytes(network_error[1:], "big"))

    def date(raw: str | None) -> str | None:
        return raw if raw is not None and _DATE.match(raw) else None

    return Receipt(
        message_id=message_id.strip(),
        stat=stat,
        err=err,
        submit_date=date(fields.get("submit date")),
        done_date=date(fields.get("done date")),
        text=fields.get("text", ""),
    )


def _reference_text_fields(body: str) -> dict[str, str]:
    standard = _STANDARD.match(body)
    if standard is not None:
        keys = ("id", "submit date", "done date", "stat", "err", "text")
        return {k: v.strip() for k, v in zip(keys, standard.groups(), strict=True) if v is not None}
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(body):
        if match.group(3) is not None:
            fields["text"] = match.group(3).strip()
            break
        fields.setdefault(match.group(1).lower().replace("_", " "), match.group(2))
    return fields


# --- strategies ----------------------------------------------------------------------------------
LATIN1 = st.characters(min_codepoint=1, max_codepoint=255)
WHITESPACE = st.sampled_from([" ", "  ", "\t", "\x1c", "\x85", "\xa0", "\n", ""])
WORD = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_.:\xe9\xa0\x85"), max_size=12)
DIGITS = st.text(alphabet="0123456789", min_size=8, max_size=13)


@st.composite
def receipt_texts(draw: st.DrawFn) -> str:
    """Receipt texts: the standard layout with odd values and case; fields missing, repeated, shuffled or
    oddly separated; or anything at all."""
    mode = draw(st.integers(0, 9))
    if mode == 0:
        return draw(st.text(LATIN1, max_size=160))
    names = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]
    values = {
        "id": draw(st.one_of(st.text("0123456789abcdef", max_size=12), WORD)),
        "sub": draw(st.sampled_from(["001", "1", ""])),
        "dlvrd": draw(st.sampled_from(["001", "000", "x"])),
        "submit date": draw(st.one_of(DIGITS, WORD)),
        "done date": draw(st.one_of(DIGITS, WORD)),
        "stat": draw(st.one_of(st.sampled_from(["DELIVRD", "undeliv", "Expired", "REJECTD", ""]), WORD)),
        "err": draw(st.one_of(st.sampled_from(["000", "0x1A", "00A", ""]), WORD)),
    }
    text_label = draw(st.sampled_from(["text", "TEXT", "Text"]))
    tail = f" {text_label}:{draw(st.text(LATIN1, max_size=30))}" if draw(st.booleans()) else ""
    if mode <= 5:  # the standard layout (which WORD's odd spaces can still break)
        cases: list[Callable[[str], str]] = [str, str.upper, str.title]
        case = draw(st.sampled_from(cases))
        return " ".join(f"{case(name)}:{values[name]}" for name in names) + tail
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    names = [n for n in names if draw(st.integers(0, 7))]  # now and then a field is missing
    parts = []
    for name in names:
        label = name.replace(" ", draw(st.sampled_from([" ", "_"]))) if " " in name else name
        label = draw(st.sampled_from([label, label.upper(), label.title()]))
        parts.append(f"{label}:{draw(WHITESPACE) if draw(st.integers(0, 5)) == 0 else ''}{values[name]}")
    separator = draw(st.sampled_from([" ", " ", " ", "  ", "\t", "\n"]))
    return separator.join(parts) + tail.replace(" ", separator, 1) + draw(st.sampled_from(["", " ", "\n"]))


RECEIPT_TLVS = st.dictionaries(
    st.sampled_from([c.TAG_RECEIPTED_MESSAGE_ID, c.TAG_MESSAGE_STATE, c.TAG_NETWORK_ERROR_CODE, 0x1401]),
    st.one_of(
        st.binary(max_size=8),
        st.sampled_from(
            [b"\x02", b"\x05", b"\x09", b"\x00\x02", b"\x03\x00\x45", b"abc\x00", b"\x00", b" 1 \x00"]
        ),
    ),
)


@st.composite
def deliver_sms(draw: st.DrawFn) -> DeliverSm:
    """deliver_sm of many shapes: receipts (text in short_message or message_payload, TLVs or not) and
    mobile-originated messages, now and then with times, UDH or odd flags."""
    text = draw(receipt_texts()).encode("latin-1")
    tlvs = draw(RECEIPT_TLVS)
    if draw(st.integers(0, 5)) == 0:
        tlvs[c.TAG_MESSAGE_PAYLOAD] = text
        text = b""
    if len(text) > 254:
        text = text[:254]
    return DeliverSm(
        service_type=draw(st.sampled_from(["", "CMT", "x"])),
        source_addr_ton=draw(st.integers(0, 255)),
        source_addr_npi=draw(st.integers(0, 255)),
        source_addr=draw(st.text(LATIN1, max_size=20)),
        dest_addr_ton=draw(st.integers(0, 6)),
        dest_addr_npi=draw(st.integers(0, 1)),
        destination_addr=draw(st.text(LATIN1, max_size=20)),
        esm_class=draw(st.sampled_from([0x04, 0x04, 0x04, 0x00, 0x08, 0x44, 0x40, 0x24])),
        protocol_id=draw(st.integers(0, 255)),
        priority_flag=draw(st.integers(0, 3)),
        schedule_delivery_time=draw(st.sampled_from(["", "", "", "000001000000000R"])),
        validity_period=draw(st.sampled_from(["", "", "", "261127153000000+"])),
        registered_delivery=draw(st.integers(0, 255)),
        data_coding=draw(st.sampled_from([0, 0, 1, 3, 8, 0xF0])),
        short_message=text,
        tlvs=tlvs,
        sequence_number=draw(st.integers(0, c.MAX_SEQUENCE_NUMBER)),
    )


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        frame = draw(deliver_sms()).encode()
    elif kind <= 6:
        message_id = draw(st.text(LATIN1, max_size=64))
        status = draw(st.sampled_from([0, 0, 0, c.ESME_RTHROTTLED, c.ESME_RINVDSTADR]))
        frame = SubmitSmResp(message_id, status, draw(st.integers(0, 2**32 - 1))).encode()
        if draw(st.integers(0, 4)) == 0:  # no NUL, or a bare header, or trailing octets
            frame = draw(st.sampled_from([frame[:-1], frame[:16], frame + b"xy"]))
            frame = len(frame).to_bytes(4, "big") + frame[4:]
    elif kind == 7:
        others: list[Pdu] = [EnquireLink(5), Unbind(6), SubmitSm(destination_addr="1")]
        frame = draw(st.sampled_from(others)).encode()
    else:
        body = draw(st.binary(max_size=80))
        command_id = draw(st.sampled_from([c.DELIVER_SM, c.SUBMIT_SM_RESP, c.DELIVER_SM_RESP, 0x1234]))
        frame = struct.pack(">IIII", 16 + len(body), command_id, 0, 1) + body
    if draw(st.integers(0, 3)) == 0:
        frame = draw(mutated(frame))
    return frame


def _run(reader: PduReader | FastPduReader, chunks: list[bytes]) -> list[object]:
    """Every feed's items, then the framing error (type and text) if one came, then ``buffered``."""
    seen: list[object] = []
    for chunk in chunks:
        try:
            seen.append(reader.feed(chunk))
        except PduError as exc:
            seen.append(("PduError", str(exc)))
    seen.append(reader.buffered)
    return seen


def _chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points)] or [b""]


# --- the reader ----------------------------------------------------------------------------------
@settings(max_examples=800, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=8), st.lists(st.integers(0, 2000), max_size=6))
def test_fast_reader_equals_the_general_reader(pdus: list[bytes], cuts: list[int]) -> None:
    chunks = _chunked(b"".join(pdus), cuts)
    assert _run(FastPduReader(), chunks) == _run(PduReader(), chunks)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(frames(), st.binary(max_size=40)), max_size=6), st.lists(st.integers(0, 600)))
def test_fast_reader_equals_the_general_reader_on_garbage(parts: list[bytes], cuts: list[int]) -> None:
    chunks = _chunked(b"".join(parts), cuts)
    assert _run(FastPduReader(), chunks) == _run(PduReader(), chunks)


@settings(max_examples=800, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=8), st.lists(st.integers(0, 2000), max_size=6))
def test_the_receipt_reader_reads_what_the_general_reader_and_receipt_report_read(
    pdus: list[bytes], cuts: list[int]
) -> None:
    chunks = _chunked(b"".join(pdus), cuts)
    fast, general = _run(FastPduReader(receipts=True), chunks), _run(PduReader(), chunks)
    assert len(fast) == len(general)
    for fast_feed, general_feed in zip(fast, general, strict=True):
        if isinstance(fast_feed, list) and isinstance(general_feed, list):
            expected = [
                ReceiptSm(g.sequence_number, receipt_report(g))
                if isinstance(f, ReceiptSm) and isinstance(g, DeliverSm)
                else g
                for f, g in zip(fast_feed, general_feed, strict=True)
            ]
            assert fast_feed == expected
        else:
            assert fast_feed == general_feed


@settings(max_examples=500, deadline=None)
@given(deliver_sms())
def test_a_deliver_sm_reads_back_whole(pdu: DeliverSm) -> None:
    [decoded] = FastPduReader().feed(pdu.encode())
    assert decoded == pdu
    [receipt] = FastPduReader(receipts=True).feed(pdu.encode())
    fast = not pdu.schedule_delivery_time and not pdu.validity_period
    assert receipt == (ReceiptSm(pdu.sequence_number, receipt_report(pdu)) if fast else pdu)


@pytest.mark.parametrize("length", [0, 3, 15, 65537, 2**32 - 1])
def test_fast_reader_refuses_bad_lengths_like_the_general_one(length: int) -> None:
    for prefix in (b"", SubmitSmResp("a", 0, 1).encode()):
        for data in (prefix + length.to_bytes(4, "big"), prefix + length.to_bytes(4, "big") + bytes(20)):
            fast, general = FastPduReader(), PduReader()
            assert _run(fast, [data, b"more"]) == _run(general, [data, b"more"])


# --- deliver_sm_resp -----------------------------------------------------------------------------
@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.just(0), st.sampled_from([c.ESME_RX_T_APPN, c.ESME_RSYSERR]), st.integers(-5, 2**33)),
    st.one_of(st.integers(0, c.MAX_SEQUENCE_NUMBER), st.integers(-5, 2**33)),
)
def test_deliver_sm_resp_equals_the_pdu_encoded(status: int, sequence_number: int) -> None:
    try:
        expected: bytes | type[PduError] = DeliverSmResp("", status, sequence_number).encode()
    except PduError:
        expected = PduError
    try:
        actual: bytes | type[PduError] = deliver_sm_resp(status, sequence_number)
    except PduError:
        actual = PduError
    assert actual == expected


# --- receipts ------------------------------------------------------------------------------------
@settings(max_examples=1000, deadline=None)
@given(deliver_sms())
def test_receipts_read_as_before(pdu: DeliverSm) -> None:
    expected = reference_parse_receipt(pdu)
    assert parse_receipt(pdu) == expected
    report = receipt_report(pdu)
    assert report == (None if expected is None else (expected.message_id, expected.stat, expected.err))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), RECEIPT_TLVS, st.integers(0, 255))
def test_receipts_of_arbitrary_bytes_read_as_before(
    data: bytes, tlvs: dict[int, bytes], esm_class: int
) -> None:
    pdu = DeliverSm(esm_class=esm_class, short_message=data, tlvs=tlvs)
    expected = reference_parse_receipt(pdu)
    assert parse_receipt(pdu) == expected
    assert receipt_report(pdu) == (
        None if expected is None else (expected.message_id, expected.stat, expected.err)
    )


# --- the carrier's submit_sm ---------------------------------------------------------------------
@st.composite
def outbound_parts(draw: st.DrawFn) -> OutboundPart:
    total = draw(st.integers(1, 4))
    return OutboundPart(
        sms_id="x",
        to=draw(st.one_of(st.text("0123456789", min_size=1, max_size=15).map(lambda d: "+" + d), WORD)),
        sender=draw(st.one_of(st.sampled_from(["Acme", "+306912345678", "ACME Ltd", "x" * 21, "é€"]), WORD)),
        data_coding=draw(st.sampled_from([c.DATA_CODING_DEFAULT, c.DATA_CODING_UCS2, 3])),
        payload=draw(st.binary(max_size=160)),
        part=draw(st.integers(0, total + 1)),
        parts=total,
        ref=draw(st.integers(0, 0xFFFF)),
        flash=draw(st.booleans()),
        validity_minutes=draw(st.sampled_from([None, 0, 1, 90, 99 * 1440, 99 * 1440 + 1])),
    )


def _reference_fields(part: OutboundPart, concat: str) -> SubmitFields:
    """The fields the carrier built per part before the template cache on OutboundPart."""
    validity = part.validity_minutes
    return SubmitFields(
        source_addr=part.sender, destination_addr=part.to, data_coding=part.data_coding, payload=part.payload,
        seqnum=part.part, total=part.parts, flash=part.flash, registered_delivery=1,
        validity_period=relative_validity_period(validity) if validity else "",
        concat=concat,  # type: ignore[typeddict-item]
        ref=part.ref,
    )  # fmt: skip


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", call()
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=1000, deadline=None)
@given(outbound_parts(), st.sampled_from(["udh", "sar"]))
def test_the_carrier_encodes_parts_as_before(part: OutboundPart, concat: str) -> None:
    carrier = SmppCarrier.from_url(f"smpp://a:b@127.0.0.1?concat={concat}")
    actual = _outcome(lambda: carrier._encoded(part))
    assert actual == _outcome(lambda: encode_submit_part(_reference_fields(part, concat)))
    if actual[0] == "ok":
        assert actual[1] == build_submit_part(**_reference_fields(part, concat)).encode()
        assert carrier._pdu(part).encode() == actual[1]


def test_receipt_strategy_reaches_both_text_paths() -> None:
    """Guard the generator: the standard layout and the field-by-field one both occur."""
    samples: list[Pdu] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(deliver_sms())
    def collect(pdu: DeliverSm) -> None:
        samples.append(pdu)

    collect()
    texts = [p.short_message.decode("latin-1") for p in samples if isinstance(p, DeliverSm)]
    assert any(_STANDARD.match(text) for text in texts)
    assert any(not _STANDARD.match(text) and _FIELD.search(text) for text in texts)
