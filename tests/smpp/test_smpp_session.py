"""SmppSession against the real node-smpp simulator (an independent SMPP implementation)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from smsc_sim import SimulatorFactory, SmscSimulator

from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm, SubmitSm
from smscast.smpp.receipts import Receipt, parse_receipt
from smscast.smpp.session import BindFailed, SessionClosed, SmppConfig, SmppSession, SubmitOutcome
from smscast.smpp.submit import build_submit_sms

pytestmark = pytest.mark.smsc

# A deliberately small GSM 03.38 encoder (unpacked septets), independent of the domain's, for test data.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip


def gsm_parts(text: str, per_part: int = 153) -> list[bytes]:
    """Encode to unpacked septets and split into parts without cutting an escape pair."""
    chars = [
        bytes([0x1B, GSM_EXTENSION[ch]]) if ch in GSM_EXTENSION else bytes([GSM_BASIC.index(ch)])
        for ch in text
    ]
    parts: list[bytes] = [b""]
    for septets in chars:
        if len(parts[-1]) + len(septets) > per_part:
            parts.append(b"")
        parts[-1] += septets
    return parts


def ucs2_parts(text: str, per_part: int = 67) -> list[bytes]:
    units = text.encode("utf-16-be")
    parts: list[bytes] = []
    pos = 0
    while pos < len(units):
        end = min(pos + per_part * 2, len(units))
        if end < len(units) and 0xD8 <= units[end - 2] <= 0xDB:  # never split a surrogate pair
            end -= 2
        parts.append(units[pos:end])
        pos = end
    return parts


def config(smsc: SmscSimulator, **overrides: Any) -> SmppConfig:
    settings: dict[str, Any] = {
        "response_timeout_s": 5.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        "throttle_backoff_s": 0.02,
    }
    settings.update(overrides)
    return SmppConfig(smsc.host, smsc.port, smsc.system_id, smsc.password, **settings)


async def _ignore(_: DeliverSm) -> None:
    return None


def message(i: int, text: bytes = b"Hello", registered_delivery: int = 0) -> SubmitSm:
    (pdu,) = build_submit_sms(
        source_addr="Acme",
        destination_addr=f"+3069{i:08d}",
        data_coding=0,
        parts=[text],
        registered_delivery=registered_delivery,
        ref=0,
    )
    return pdu


async def submit_all(
    session: SmppSession, pdus: Sequence[SubmitSm], concurrency: int = 150
) -> list[SubmitOutcome]:
    """Submit from ``concurrency`` coroutines, as a dispatcher would; outcomes in input order."""
    outcomes: list[SubmitOutcome | None] = [None] * len(pdus)
    indices = iter(range(len(pdus)))

    async def worker() -> None:
        for i in indices:
            outcomes[i] = await session.submit(pdus[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [o for o in outcomes if o is not None]


def run(coro_factory: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro_factory()

    return asyncio.run(main())


def test_bind_submit_close(smsc: SmscSimulator) -> None:
    async def scenario() -> SubmitOutcome:
        session = SmppSession(config(smsc), _ignore)
        assert not session.connected
        await session.start()
        assert session.connected
        outcome = await session.submit(message(1))
        await session.close()
        assert not session.connected
        with pytest.raises(SessionClosed):
            await session.submit(message(2))
        return outcome

    outcome = run(scenario)
    assert outcome.ok
    assert outcome.command_status == c.ESME_ROK
    assert [r["message_id"] for r in smsc.records()] == [outcome.message_id]
    smsc.wait_for_log("UNBIND")
    assert "BIND transceiver smscast OK" in smsc.log()


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("smscast", "wrong", c.ESME_RINVPASWD), ("nobody", "secret", c.ESME_RINVSYSID)],
)
def test_bind_refused(smsc: SmscSimulator, system_id: str, password: str, status: int) -> None:
    cfg = SmppConfig(smsc.host, smsc.port, system_id, password)

    async def scenario() -> None:
        session = SmppSession(cfg, _ignore)
        with pytest.raises(BindFailed) as info:
            await session.start()
        assert info.value.command_status == status
        assert not session.connected
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    run(scenario)


def test_unreachable_smsc_raises_on_start() -> None:
    async def scenario() -> None:
        session = SmppSession(SmppConfig("127.0.0.1", 1, "x", "y", response_timeout_s=2), _ignore)
        with pytest.raises(OSError):
            await session.start()

    run(scenario)


def test_thousand_submits_acknowledged_and_recorded(smsc: SmscSimulator) -> None:
    pdus = [message(i, f"Message {i}".encode()) for i in range(1000)]

    async def scenario() -> list[SubmitOutcome]:
        session = SmppSession(config(smsc), _ignore)
        await session.start()
        outcomes = await submit_all(session, pdus)
        stats = session.stats
        await session.close()
        assert stats.submitted == 1000
        assert stats.resubmitted == 0
        return outcomes

    outcomes = run(scenario)
    assert all(o.ok for o in outcomes)
    records = smsc.records()
    assert len(records) == 1000
    by_destination = {r["destination_addr"]: r for r in records}
    for i, outcome in enumerate(outcomes):
        record = by_destination[f"3069{i:08d}"]
        assert record["message_id"] == outcome.message_id
        assert record["text"] == f"Message {i}"
        assert (record["source_addr_ton"], record["source_addr_npi"]) == (5, 0)
        assert (record["dest_addr_ton"], record["dest_addr_npi"]) == (1, 1)
    assert len({o.message_id for o in outcomes}) == 1000


@pytest.mark.parametrize("concat", ["udh", "sar"])
def test_concatenated_gsm_is_reassembled_by_the_recorder(smsc: SmscSimulator, concat: str) -> None:
    text = "Price: 5€ {promo} [code|~^\\] GSM text with escapes @ £ $ ¥ è é ù ì ò Ç Ø ø Å å Δ Φ Γ Λ Ω. " * 5
    parts = gsm_parts(text)
    assert len(parts) >= 3

    async def scenario() -> list[SubmitOutcome]:
        pdus = build_submit_sms(
            source_addr="+306912345678", destination_addr="306900000001", data_coding=0, parts=parts,
            ref=0xA5, concat=concat,  # type: ignore[arg-type]
        )  # fmt: skip
        session = SmppSession(config(smsc), _ignore)
        await session.start()
        outcomes = await submit_all(session, pdus, concurrency=1)
        await session.close()
        return outcomes

    outcomes = run(scenario)
    assert all(o.ok for o in outcomes)
    records = smsc.records()
    assert [r["source_addr_ton"] for r in records] == [1] * len(parts)
    if concat == "udh":
        assert [r["udh"] for r in records] == [
            f"050003a5{len(parts):02x}{i:02x}" for i in range(1, len(parts) + 1)
        ]
        assert all(r["esm_class"] & 0x40 for r in records)
    else:
        assert [r["sar_segment_seqnum"] for r in records] == list(range(1, len(parts) + 1))
        assert {r["sar_msg_ref_num"] for r in records} == {0xA5}
    (msg,) = smsc.messages()
    assert msg["parts"] == len(parts)
    assert msg["concat"] == concat
    assert msg["text"] == text
    assert msg["message_ids"] == [o.message_id for o in outcomes]


def test_ucs2_single_and_concatenated(smsc: SmscSimulator) -> None:
    short = "Καλημέρα κόσμε 👋"
    long = "Привет, мир! 你好，世界 🌍🚀 " * 8

    async def scenario() -> None:
        session = SmppSession(config(smsc), _ignore)
        await session.start()
        for i, text in enumerate((short, long)):
            pdus = build_submit_sms(
                source_addr="Acme",
                destination_addr=f"30690000000{i}",
                data_coding=8,
                parts=ucs2_parts(text),
                ref=i,
            )
            assert all(o.ok for o in await submit_all(session, pdus, concurrency=1))
        await session.close()

    run(scenario)
    messages = smsc.messages()
    assert [m["text"] for m in messages] == [short, long]
    assert messages[1]["parts"] > 1
    assert {r["data_coding"] for r in smsc.records()} == {8}


@pytest.mark.parametrize(
    ("dcs", "payload", "text"),
    [(0, gsm_parts("Flash!")[0], "Flash!"), (8, "Φλας!".encode("utf-16-be"), "Φλας!")],
)
def test_flash_data_coding(smsc: SmscSimulator, dcs: int, payload: bytes, text: str) -> None:
    async def scenario() -> None:
        (pdu,) = build_submit_sms(
            source_addr="Acme", destination_addr="3069", data_coding=dcs, parts=[payload], flash=True, ref=0
        )
        session = SmppSession(config(smsc), _ignore)
        await session.start()
        assert (await session.submit(pdu)).ok
        await session.close()

    run(scenario)
    (record,) = smsc.records()
    assert record["data_coding"] == {0: 0x10, 8: 0x18}[dcs]
    assert record["text"] == text


@pytest.mark.parametrize("bind", ["transceiver", "transmitter+receiver"])
def test_receipts_reach_on_deliver(smsc_factory: SimulatorFactory, bind: str) -> None:
    smsc = smsc_factory(receipt_delay_ms=20, no_receipt_every=10)
    receipts: list[Receipt] = []
    n = 200

    async def scenario() -> list[SubmitOutcome]:
        async def on_deliver(pdu: DeliverSm) -> None:
            receipt = parse_receipt(pdu)
            assert receipt is not None
            receipts.append(receipt)

        session = SmppSession(config(smsc, bind=bind), on_deliver)
        await session.start()
        outcomes = await submit_all(session, [message(i, registered_delivery=1) for i in range(n)])
        for _ in range(200):
            if len(receipts) >= n - n // 10:
                break
            await asyncio.sleep(0.02)
        await session.close()
        return outcomes

    outcomes = run(scenario)
    expected = {o.message_id for o in outcomes}
    assert len(receipts) == n - n // 10  # every 10th receipt withheld by the simulator
    assert {r.message_id for r in receipts} <= expected
    assert {r.stat for r in receipts} == {"DELIVRD"}
    assert all(r.err_code == 0 and r.text == "Hello" and r.done_date for r in receipts)
    if bind == "transmitter+receiver":
        log = smsc.log()
        assert "BIND transmitter smscast OK" in log
        assert "BIND receiver smscast OK" in log


def test_failing_on_deliver_gets_the_receipt_again(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(receipt_stat="UNDELIV", receipt_err="0x1A", receipt_retry_ms=50)
    calls: list[Receipt | None] = []

    async def scenario() -> int:
        async def on_deliver(pdu: DeliverSm) -> None:
            calls.append(parse_receipt(pdu))
            if len(calls) == 1:
                raise RuntimeError("database is down")

        session = SmppSession(config(smsc), on_deliver)
        await session.start()
        assert (await session.submit(message(1, registered_delivery=1))).ok
        for _ in range(100):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.02)
        errors = session.stats.deliver_errors
        await session.close()
        return errors

    assert run(scenario) == 1
    assert len(calls) == 2
    assert calls[0] == calls[1]
    assert calls[0] is not None
    assert (calls[0].stat, calls[0].err_code) == ("UNDELIV", 0x1A)


def test_throttling_is_recovered_without_loss_or_duplicates(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(throttle_every=9, receipts=False)
    n = 600

    async def scenario() -> tuple[list[SubmitOutcome], int]:
        session = SmppSession(config(smsc, throttle_backoff_s=0.01), _ignore)
        await session.start()
        outcomes = await submit_all(session, [message(i) for i in range(n)])
        throttled = session.stats.throttled
        await session.close()
        return outcomes, throttled

    outcomes, throttled = run(scenario)
    assert all(o.ok for o in outcomes)
    assert throttled >= n // 9
    records = smsc.records()
    assert len(records) == n
    assert len({r["destination_addr"] for r in records}) == n


def test_throttling_pauses_the_whole_session(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(throttle_every=50, receipts=False)

    async def scenario() -> float:
        session = SmppSession(config(smsc, throttle_backoff_s=0.3, window=10), _ignore)
        await session.start()
        started = time.perf_counter()
        await submit_all(session, [message(i) for i in range(100)], concurrency=10)
        elapsed = time.perf_counter() - started
        await session.close()
        return elapsed

    # Two throttled answers (50th and 100th submit received) → at least two 0.3 s pauses for everyone.
    assert run(scenario) >= 0.55
    assert len(smsc.records()) == 100


def test_dropped_connection_is_recovered(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(drop_after=300, receipts=False)
    n, window = 1000, 100

    async def scenario() -> tuple[list[SubmitOutcome], Any]:
        session = SmppSession(config(smsc, window=window), _ignore)
        await session.start()
        outcomes = await submit_all(session, [message(i) for i in range(n)])
        stats = session.stats
        await session.close()
        return outcomes, stats

    outcomes, stats = run(scenario)
    assert all(o.ok for o in outcomes)
    assert stats.disconnects == 1
    assert stats.binds == 2
    assert stats.resubmitted >= 1
    smsc.wait_for_log("DROP after 300")
    per_destination = Counter(r["destination_addr"] for r in smsc.records())
    assert set(per_destination) == {f"3069{i:08d}" for i in range(n)}, "every message recorded"
    duplicates = sum(per_destination.values()) - n
    assert 1 <= duplicates <= window  # the 300th was accepted but never answered: resubmitted
    assert stats.resubmitted <= window


def test_enquire_link_keeps_a_quiet_session_alive(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(idle_timeout_ms=400)

    async def scenario(enquire_link_s: float) -> Any:
        session = SmppSession(config(smsc, enquire_link_s=enquire_link_s, response_timeout_s=1), _ignore)
        await session.start()
        await asyncio.sleep(1.2)
        assert (await session.submit(message(1))).ok
        stats = session.stats
        await session.close()
        return stats

    stats = run(lambda: scenario(0.1))
    assert stats.disconnects == 0
    assert stats.binds == 1
    assert stats.enquire_links_sent >= 3
    assert "ENQUIRE_LINK" in smsc.log()
    assert "IDLE_DROP" not in smsc.log()
    # Control: without enquire_link the same quiet period gets the session dropped (and then rebound).
    stats = run(lambda: scenario(30))
    assert stats.disconnects >= 1
    assert stats.binds >= 2
    assert "IDLE_DROP" in smsc.log()


def test_tps_limit(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(receipts=False, record=False)

    async def scenario() -> float:
        session = SmppSession(config(smsc, tps=200), _ignore)
        await session.start()
        started = time.perf_counter()
        await submit_all(session, [message(i) for i in range(101)])
        elapsed = time.perf_counter() - started
        await session.close()
        return elapsed

    assert 0.45 <= run(scenario) < 1.5  # 100 intervals of 5 ms


def test_close_waits_for_in_flight_and_rejects_the_rest(smsc_factory: SimulatorFactory) -> None:
    smsc = smsc_factory(receipts=False)

    async def scenario() -> tuple[int, int]:
        session = SmppSession(config(smsc, window=10), _ignore)
        await session.start()
        tasks = [asyncio.create_task(session.submit(message(i))) for i in range(200)]
        await asyncio.sleep(0)  # let the first window go out
        await asyncio.sleep(0.001)
        await session.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = sum(isinstance(r, SubmitOutcome) and r.ok for r in results)
        closed = sum(isinstance(r, SessionClosed) for r in results)
        assert ok + closed == 200
        return ok, closed

    ok, closed = run(scenario)
    assert ok >= 1
    assert closed >= 1
    assert len(smsc.records()) == ok
