"""`SmppSession.submit_each` and `SmppCarrier.submit_each` (one callback per part, no future) against the
scriptable in-process SMSC: outcomes by index, never from inside the call, the same results and errors as
`submit`, abandoned parts, a closed session, a failing callback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.smpp.test_smpp_session_edges import FakeConnection, FakeSmsc, _ignore, accept, run, wait_until

from smscast.carriers.base import DeliveryReport, OutboundPart, SubmitResult
from smscast.carriers.smpp import SmppCarrier
from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp
from smscast.smpp.session import SessionClosed, SmppSession, SubmitOutcome
from smscast.smpp.submit import build_submit_part

Outcomes = dict[int, SubmitOutcome | BaseException]


def encoded(destination: str) -> bytes:
    return build_submit_part(source_addr="Acme", destination_addr=destination, data_coding=0, payload=b"hi",
                             seqnum=1, total=1, ref=0).encode()  # fmt: skip


def refuse_odd(conn: FakeConnection, pdu: SubmitSm) -> None:
    status = c.ESME_RINVDSTADR if int(pdu.destination_addr) % 2 else c.ESME_ROK
    conn.send(SubmitSmResp("" if status else f"id{pdu.destination_addr}", status, pdu.sequence_number))


def test_outcomes_come_by_index_and_never_from_inside_the_call() -> None:
    async def scenario() -> None:
        async with FakeSmsc(refuse_odd) as smsc:
            session = SmppSession(smsc.config(window=3), _ignore)
            await session.start()
            outcomes: Outcomes = {}
            session.submit_each([(i, encoded(str(10 + i))) for i in range(8)], outcomes.__setitem__)
            assert outcomes == {}
            await wait_until(lambda: len(outcomes) == 8)
            for i in range(8):
                expected = (
                    SubmitOutcome(False, None, c.ESME_RINVDSTADR)
                    if i % 2
                    else SubmitOutcome(True, f"id{10 + i}", 0)
                )
                assert outcomes[i] == expected
            assert [pdu.destination_addr for pdu in smsc.submits] == [str(10 + i) for i in range(8)]
            await session.close()

    run(scenario)


def test_throttled_parts_are_sent_again_and_answered_once() -> None:
    answered: list[int] = []

    def throttle_first(conn: FakeConnection, pdu: SubmitSm) -> None:
        first = len(answered) == 0
        answered.append(pdu.sequence_number)
        status = c.ESME_RTHROTTLED if first else c.ESME_ROK
        conn.send(SubmitSmResp("" if first else "ok", status, pdu.sequence_number))

    async def scenario() -> None:
        async with FakeSmsc(throttle_first) as smsc:
            session = SmppSession(smsc.config(window=1, throttle_backoff_s=0.01), _ignore)
            await session.start()
            calls: list[tuple[int, SubmitOutcome | BaseException]] = []
            session.submit_each([(7, encoded("1"))], lambda i, o: calls.append((i, o)))
            await wait_until(lambda: bool(calls))
            await asyncio.sleep(0.05)
            assert calls == [(7, SubmitOutcome(True, "ok", 0))]
            assert len(smsc.submits) == 2
            await session.close()

    run(scenario)


def test_abandoned_parts_are_told_cancelled_and_a_closed_session_refuses_at_once() -> None:
    async def scenario() -> None:
        async with FakeSmsc(lambda conn, pdu: None) as smsc:  # never answers: the window stays full
            session = SmppSession(smsc.config(window=2), _ignore)
            await session.start()
            outcomes: Outcomes = {}
            session.submit_each([(i, encoded(str(i))) for i in range(5)], outcomes.__setitem__)
            assert session.abandon_queued() == 3
            assert sorted(outcomes) == [2, 3, 4]
            assert all(isinstance(o, asyncio.CancelledError) for o in outcomes.values())
            assert session.abandon_queued() == 0
            await session.close(drain_timeout_s=0.05)
            assert all(isinstance(outcomes[i], SessionClosed) for i in (0, 1))
            try:
                session.submit_each([(9, encoded("9"))], outcomes.__setitem__)
            except SessionClosed:
                pass
            else:
                raise AssertionError("a closed session must refuse")
            assert 9 not in outcomes

    run(scenario)


def test_close_sends_no_encoded_part_that_was_still_queued() -> None:
    """Parts handed over already encoded (``submit_each``) that never left the queue are refused by
    `close`, exactly like those queued as `SubmitSm`: only the window in flight is waited for."""
    held: list[tuple[FakeConnection, SubmitSm]] = []

    async def scenario() -> None:
        async with FakeSmsc(lambda conn, pdu: held.append((conn, pdu))) as smsc:
            session = SmppSession(smsc.config(window=2), _ignore)
            await session.start()
            outcomes: Outcomes = {}
            session.submit_each([(i, encoded(str(i))) for i in range(6)], outcomes.__setitem__)
            await wait_until(lambda: len(held) == 2)
            closing = asyncio.create_task(session.close(drain_timeout_s=5))
            await wait_until(lambda: sorted(outcomes) == [2, 3, 4, 5])
            assert all(isinstance(outcomes[i], SessionClosed) for i in (2, 3, 4, 5))
            for conn, pdu in held:  # the window in flight is answered: close ends
                conn.send(SubmitSmResp(f"id{pdu.destination_addr}", 0, pdu.sequence_number))
            await closing
            assert outcomes[0] == SubmitOutcome(True, "id0", 0) and outcomes[1] == SubmitOutcome(
                True, "id1", 0
            )
            assert [pdu.destination_addr for pdu in smsc.submits] == ["0", "1"]

    run(scenario)


def test_a_failing_callback_does_not_break_the_connection() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            session = SmppSession(smsc.config(), _ignore)
            await session.start()

            def explode(_index: int, _outcome: SubmitOutcome | BaseException) -> None:
                raise RuntimeError("caller bug")

            session.submit_each([(0, encoded("1"))], explode)
            outcome = await session.submit(SubmitSm(destination_addr="2"))
            assert outcome.ok
            assert session.stats.disconnects == 0
            await session.close()

    run(scenario)


def part(to: str, **overrides: object) -> OutboundPart:
    fields: dict[str, object] = {
        "sms_id": "s", "to": to, "sender": "Acme", "data_coding": 0, "payload": b"hello", "part": 1,
        "parts": 1, "ref": 0, "flash": False, "validity_minutes": None,
    }  # fmt: skip
    fields.update(overrides)
    return OutboundPart(**fields)  # type: ignore[arg-type]


def test_the_carrier_reports_every_part_once_and_later() -> None:
    async def scenario() -> None:
        async with FakeSmsc(refuse_odd) as smsc:
            carrier = SmppCarrier.from_url(f"smpp://test:test@127.0.0.1:{smsc.port}?window=2")
            results: dict[int, SubmitResult] = {}

            async def sink(_: object) -> None:
                return None

            def on_result(index: int, result: SubmitResult) -> None:
                assert index not in results
                results[index] = result

            carrier.submit_each([part("+301")], on_result)  # not started: reported, not raised
            await wait_until(lambda: 0 in results)
            assert results.pop(0) == SubmitResult(None, error="carrier not started", retry=True)
            await carrier.start(sink)
            parts = [
                part("+302"),
                part("+303"),
                part("+3" + "1" * 25),
                part("+304", flash=True, data_coding=3),
            ]
            carrier.submit_each(parts, on_result)
            assert results == {}
            await wait_until(lambda: len(results) == 4)
            assert results[0] == SubmitResult("id302")
            assert results[1] == SubmitResult(
                None, error=f"command_status 0x{c.ESME_RINVDSTADR:08X}", retry=False
            )
            assert results[2] == SubmitResult(
                None, error="destination_addr is longer than 20 octets or contains NUL", retry=True
            )
            assert results[3] == SubmitResult(
                None, error="flash needs data_coding 0x00 or 0x08, not 0x03", retry=True
            )
            assert [pdu.destination_addr for pdu in smsc.submits] == ["302", "303"]
            expected = build_submit_part(source_addr="Acme", destination_addr="+302", data_coding=0,
                                         payload=b"hello", seqnum=1, total=1, ref=0)  # fmt: skip
            expected.sequence_number = smsc.submits[0].sequence_number
            assert smsc.submits[0] == expected
            await carrier.close()
            results.clear()
            carrier.submit_each([part("+305")], on_result)
            await wait_until(lambda: 0 in results)
            assert results[0] == SubmitResult(None, error="the session is not running", retry=True)

    run(scenario)


def test_the_carrier_reads_receipts_into_reports() -> None:
    async def scenario() -> None:
        carrier = SmppCarrier.from_url("smpp://test:test@127.0.0.1:1")
        reports: list[DeliveryReport] = []

        async def sink(batch: Sequence[DeliveryReport]) -> None:
            reports.extend(batch)

        carrier._sink = sink
        await carrier._on_receipts([("7", "UNDELIV", "069"), ("8", "DELIVRD", "")])
        await carrier._on_receipts([])
        assert reports == [DeliveryReport("7", "UNDELIV", "069"), DeliveryReport("8", "DELIVRD", None)]


def test_receipts_mode_hands_over_the_reports_of_a_read_and_answers_every_deliver_sm() -> None:
    async def scenario() -> None:
        async with FakeSmsc(accept) as smsc:
            batches: list[list[tuple[str, str, str]]] = []
            fail = False

            async def on_receipts(reports: list[tuple[str, str, str]]) -> None:
                batches.append(reports)
                if fail:
                    raise RuntimeError("database down")

            session = SmppSession(smsc.config(), _ignore, on_receipts=on_receipts)
            await session.start()
            (fake,) = smsc.connections
            text = b"id:7 sub:001 dlvrd:001 submit date:2611271530 done date:2611271531 stat:DELIVRD err:000"
            deliver = [
                DeliverSm(esm_class=0x04, short_message=text, sequence_number=80),
                DeliverSm(esm_class=0x00, short_message=b"MO", sequence_number=81),
                DeliverSm(esm_class=0x04, short_message=b"id:9 stat:UNDELIV", sequence_number=82,
                          tlvs={c.TAG_NETWORK_ERROR_CODE: b"\x03\x00\x45"},
                          schedule_delivery_time="000001000000000R"),
            ]  # fmt: skip
            fake.send(
                b"".join(pdu.encode() for pdu in deliver)
            )  # one read (the last one by the general road)
            await wait_until(lambda: len(fake.received) >= 4)
            assert [report for batch in batches for report in batch] == [
                ("7", "DELIVRD", "000"),
                ("9", "UNDELIV", "69"),
            ]
            assert [p for p in fake.received if isinstance(p, DeliverSmResp)] == [
                DeliverSmResp("", c.ESME_ROK, seq) for seq in (80, 81, 82)
            ]
            fail = True
            fake.send(DeliverSm(esm_class=0x04, short_message=text, sequence_number=83))
            await wait_until(lambda: len(fake.received) >= 5)
            assert fake.received[-1] == DeliverSmResp("", c.ESME_RX_T_APPN, 83)
            assert (session.stats.delivered, session.stats.deliver_errors) == (4, 1)
            await session.close()

    run(scenario)

    run(scenario)
