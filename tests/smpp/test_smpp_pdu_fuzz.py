"""Hypothesis: no input makes the decoder or the framer raise anything but PduError."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.smpp.strategies import mutated

from smscast.smpp import constants as c
from smscast.smpp.pdu import PduError, PduReader, SubmitSm, decode_pdu

KNOWN_IDS = [
    c.GENERIC_NACK, c.BIND_RECEIVER, c.BIND_RECEIVER_RESP, c.BIND_TRANSMITTER, c.BIND_TRANSMITTER_RESP,
    c.SUBMIT_SM, c.SUBMIT_SM_RESP, c.DELIVER_SM, c.DELIVER_SM_RESP, c.UNBIND, c.UNBIND_RESP,
    c.BIND_TRANSCEIVER, c.BIND_TRANSCEIVER_RESP, c.ENQUIRE_LINK, c.ENQUIRE_LINK_RESP,
]  # fmt: skip


@st.composite
def framed_pdus(draw: st.DrawFn) -> bytes:
    """A correct header (length matches) for a known command, over an arbitrary body."""
    body = draw(st.binary(max_size=300))
    command_id = draw(st.sampled_from(KNOWN_IDS))
    header = struct.pack(">IIII", 16 + len(body), command_id, draw(st.integers(0, 2**32 - 1)), 1)
    return header + body


def mutated_submit_sm() -> st.SearchStrategy[bytes]:
    """A valid submit_sm with a few bytes flipped, inserted or cut (length header kept consistent)."""
    return mutated(
        SubmitSm(source_addr="Acme", destination_addr="3069", short_message=b"hi").encode(), most=4
    )


def _decode_only_pdu_error(data: bytes) -> None:
    with contextlib.suppress(PduError):
        decode_pdu(data)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=400))
def test_decode_arbitrary_bytes_raises_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_error(data)


@settings(max_examples=1500, deadline=None)
@given(framed_pdus())
def test_decode_well_framed_garbage_raises_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_error(data)


@settings(max_examples=1000, deadline=None)
@given(mutated_submit_sm())
def test_decode_mutated_submit_sm_raises_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_error(data)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=64), framed_pdus()), max_size=12), st.integers(1, 50))
def test_reader_arbitrary_stream_raises_only_pdu_error(chunks: list[bytes], chunk_size: int) -> None:
    reader = PduReader()
    stream = b"".join(chunks)
    try:
        for i in range(0, len(stream), chunk_size):
            for item in reader.feed(stream[i : i + chunk_size]):
                assert isinstance(item, bytes) or hasattr(item, "encode")
    except PduError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    st.binary(max_size=254),
    st.integers(0, 255),
    st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=40), max_size=4),
    st.integers(0, c.MAX_SEQUENCE_NUMBER),
)
def test_submit_sm_round_trip(addr: str, sm: bytes, dcs: int, tlvs: dict[int, bytes], seq: int) -> None:
    pdu = SubmitSm(
        source_addr=addr,
        destination_addr=addr,
        data_coding=dcs,
        short_message=sm,
        tlvs=tlvs,
        sequence_number=seq,
    )
    data = pdu.encode()
    assert decode_pdu(data) == pdu
    assert PduReader().feed(data) == [pdu]
