"""SmppSession edge cases against a scriptable in-process SMSC
(the node simulator cannot misbehave on cue).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from smscast.smpp import constants as c
from smscast.smpp.connection import Connection
from smscast.smpp.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from smscast.smpp.session import SessionClosed, SmppConfig, SmppSession

Handler = Callable[["FakeConnection", SubmitSm], None]


class FakeConnection(asyncio.Protocol):
    """Binds anyone, answers enquire_link/unbind, hands submit_sm to the test's handler."""

    def __init__(self, smsc: FakeSmsc) -> None:
        self.smsc, self.reader = smsc, PduReader()
        self.transport: asyncio.Transport | None = None
        self.received: list[Pdu | bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.smsc.connections.append(self)

    def send(self, pdu: Any) -> None:
        assert self.transport is not None
        self.transport.write(pdu if isinstance(pdu, bytes) else pdu.encode())

    def data_received(self, data: bytes) -> None:
        for pdu in self.reader.feed(data):
            self.received.append(pdu)
            if isinstance(pdu, BindTransceiver):
                self.send(BindTransceiverResp("fake", sequence_number=pdu.sequence_number))
            elif isinstance(pdu, EnquireLink):
                self.send(EnquireLinkResp(c.ESME_ROK, pdu.sequence_number))
            elif isinstance(pdu, Unbind):
                self.send(UnbindResp(c.ESME_ROK, pdu.sequence_number))
            elif isinstance(pdu, SubmitSm):
                self.smsc.submits.append(pdu)
                self.smsc.handler(self, pdu)


class FakeSmsc:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: list[FakeConnection] = []
        self.submits: list[SubmitSm] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeSmsc:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: FakeConnection(self), "127.0.0.1", 0
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.abort()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def config(self, **overrides: Any) -> SmppConfig:
        settings: dict[str, Any] = {
            "response_timeout_s": 2.0,
            "reconnect_min_s": 0.02,
            "reconnect_max_s": 0.1,
        }
        settings.update(overrides)
        return SmppConfig("127.0.0.1", self.port, "test", "test", **settings)


def accept(conn: FakeConnection, pdu: SubmitSm) -> None:
    conn.send(SubmitSmResp(f"id{pdu.sequence_number}", c.ESME_ROK, pdu.sequence_number))


async def _ignore(_: DeliverSm) -> None:
    return None


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(20):
            return await scenario()

    return asyncio.run(main())


async def wait_until(predicate: Callable[[], bool], within_s: float = 3.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polling the fake's state is the simplest honest wait
            await asyncio.sleep(0.005)


def test_permanent_error_is_returned_not_retried() -> None:
    def refuse(conn: FakeConnection, pdu: SubmitSm) -> None:
        conn.send(SubmitSmResp(command_status=c.ESME_RINVDSTADR, sequence_number=pdu.sequence_number))

    async def scenario() -> None:
        async with FakeSmsc(refuse) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            outcome = await session.submit(SubmitSm(destination_addr="1"))
            assert (outcome.ok, outcome.message_id, outcome.command_status) == (
                False,
                None,
                c.ESME_RINVDSTADR,
            )
            assert len(smsc.submits) == 1
            await session.close()

    run(scenario)


def test_generic_nack_to_a_submit_is_a_refusal() -> None:
    def nack(conn: FakeConnection, pdu: SubmitSm) -> None:
        conn.send(GenericNack(c.ESME_RINVCMDLEN, pdu.sequence_number))

    async def scenario() -> None:
        async with FakeSmsc(nack) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            outcome = await session.submit(SubmitSm(destination_addr="1"))
            assert (outcome.ok, outcome.command_status) == (False, c.ESME_RINVCMDLEN)
            await session.close()

    run(scenario)


def test_requests_from_the_smsc_are_answered() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            delivered: list[DeliverSm] = []

            async def on_deliver(pdu: DeliverSm) -> None:
                delivered.append(pdu)

            session = SmppSession(smsc.config(), on_deliver)
            await session.start()
            (fake,) = smsc.connections
            fake.send(EnquireLink(70))
            fake.send(UnknownPdu(0x00000102, 0, 71, b"\x00"))
            fake.send(bytes.fromhex("000000110000000500000000000000480a"))  # deliver_sm cut short, seq 72
            fake.send(DeliverSm(source_addr="3069", short_message=b"MO text", sequence_number=73))
            await wait_until(lambda: len(fake.received) >= 5)
            answers = fake.received[1:]
            assert EnquireLinkResp(c.ESME_ROK, 70) in answers
            assert GenericNack(c.ESME_RINVCMDID, 71) in answers
            assert GenericNack(c.ESME_RINVCMDLEN, 72) in answers
            assert DeliverSmResp("", c.ESME_ROK, 73) in answers
            assert [d.short_message for d in delivered] == [b"MO text"]
            assert session.connected
            await session.close()

    run(scenario)


def test_missing_response_drops_the_link_and_resubmits() -> None:
    def ignore_first(conn: FakeConnection, pdu: SubmitSm) -> None:
        if len(conn.smsc.submits) > 1:
            accept(conn, pdu)

    async def scenario() -> None:
        async with FakeSmsc(ignore_first) as smsc:
            session = SmppSession(smsc.config(response_timeout_s=0.2), _ignore)
            await session.start()
            outcome = await session.submit(SubmitSm(destination_addr="1", short_message=b"once"))
            assert outcome.ok
            stats = session.stats
            assert (stats.disconnects, stats.binds, stats.resubmitted, stats.submitted) == (1, 2, 1, 2)
            assert [s.short_message for s in smsc.submits] == [b"once", b"once"]  # the duplicate, by design
            assert len(smsc.connections) == 2
            await session.close()

    run(scenario)


def test_unbind_from_the_smsc_leads_to_a_rebind() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            smsc.connections[0].send(Unbind(90))
            await wait_until(lambda: len(smsc.connections) == 2 and session.connected)
            assert UnbindResp(c.ESME_ROK, 90) in smsc.connections[0].received
            assert (await session.submit(SubmitSm(destination_addr="1"))).ok
            await session.close()

    run(scenario)


def test_framing_error_from_the_smsc_leads_to_a_reconnect() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            smsc.connections[0].send(b"\x00\x00\x00\x05garbage-garbage")
            await wait_until(lambda: len(smsc.connections) == 2 and session.connected)
            assert (await session.submit(SubmitSm(destination_addr="1"))).ok
            await session.close()

    run(scenario)


def test_unencodable_pdu_raises_pdu_error_and_the_session_carries_on() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            with pytest.raises(PduError):
                await session.submit(SubmitSm(destination_addr="x" * 30))
            assert (await session.submit(SubmitSm(destination_addr="1"))).ok
            await session.close()

    run(scenario)


def test_cancelled_submit_is_not_sent_and_frees_nothing_it_did_not_hold() -> None:
    held: list[SubmitSm] = []

    def hold(conn: FakeConnection, pdu: SubmitSm) -> None:
        held.append(pdu)

    async def scenario() -> None:
        async with FakeSmsc(hold) as smsc:
            session = SmppSession(smsc.config(window=1), _ignore)
            await session.start()
            first = asyncio.create_task(session.submit(SubmitSm(destination_addr="1")))
            second = asyncio.create_task(session.submit(SubmitSm(destination_addr="2")))
            third = asyncio.create_task(session.submit(SubmitSm(destination_addr="3")))
            await wait_until(lambda: len(held) == 1)
            second.cancel()
            accept(smsc.connections[0], held[0])
            assert (await first).ok
            await wait_until(lambda: len(held) == 2)
            assert [p.destination_addr for p in held] == ["1", "3"]
            accept(smsc.connections[0], held[1])
            assert (await third).ok
            assert second.cancelled()
            await session.close()

    run(scenario)


def test_close_gives_up_on_unanswered_submits() -> None:
    async def scenario() -> None:
        async with FakeSmsc(lambda conn, pdu: None) as smsc:
            session = SmppSession(smsc.config(window=2), _ignore)
            await session.start()
            tasks = [asyncio.create_task(session.submit(SubmitSm(destination_addr=str(i)))) for i in range(5)]
            await wait_until(lambda: len(smsc.submits) == 2)
            await session.close(drain_timeout_s=0.1)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, SessionClosed) for r in results)
            assert isinstance(smsc.connections[0].received[-1], Unbind)

    run(scenario)


def test_deliveries_are_processed_in_order_by_default() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            seen: list[int] = []

            async def slow(pdu: DeliverSm) -> None:
                await asyncio.sleep(0.001 * (pdu.sequence_number % 3))
                seen.append(pdu.sequence_number)

            session = SmppSession(smsc.config(), slow)
            await session.start()
            for seq in range(1, 31):
                smsc.connections[0].send(DeliverSm(esm_class=4, sequence_number=seq))
            await wait_until(lambda: len(seen) == 30)
            assert seen == list(range(1, 31))
            await session.close()

    run(scenario)


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux only")
def test_every_read_is_acknowledged_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SMSC with Nagle's algorithm on holds its next responses until our ACK; a delayed ACK (up to
    40 ms on Linux) would stall a full window. After each read the socket is in quick-ACK mode."""
    seen: list[int] = []
    original = Connection.data_received

    def observed(self: Connection, data: bytes) -> None:
        original(self, data)
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK))

    monkeypatch.setattr(Connection, "data_received", observed)

    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()
            for _ in range(3):
                assert (await session.submit(SubmitSm(destination_addr="1"))).ok
            await session.close()

    run(scenario)
    assert len(seen) >= 4  # bind_resp and three submit_sm_resp
    assert all(seen), seen
