"""SmppSession throughput against the raw asyncio baseline, through the same node-smpp simulator.

Prints both rates (median of ``--runs`` alternating runs) and their ratio. The session is driven the way a
dispatcher would: ``--concurrency`` coroutines each loop ``build_submit_sms(...)`` → ``await
session.submit(pdu)``; no task per message.

    python bench/bench_smpp_session.py                 # 20,000 messages, window 100, no receipts
    python bench/bench_smpp_session.py --receipts      # receipts requested, answered and parsed
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "bench"))

from smsc_sim import smsc_simulator  # noqa: E402

from raw_smpp_client import run_raw  # noqa: E402
from smscast.smpp.pdu import DeliverSm  # noqa: E402
from smscast.smpp.receipts import parse_receipt  # noqa: E402
from smscast.smpp.session import SmppConfig, SmppSession  # noqa: E402
from smscast.smpp.submit import build_submit_sms  # noqa: E402


async def run_session(
    host: str, port: int, system_id: str, password: str, n: int, window: int, concurrency: int, receipts: bool
) -> tuple[float, int]:
    """Submit ``n`` messages through SmppSession; return (msg/s, receipts parsed before close)."""
    parsed = 0

    async def on_deliver(pdu: DeliverSm) -> None:
        nonlocal parsed
        if parse_receipt(pdu) is not None:
            parsed += 1

    session = SmppSession(SmppConfig(host, port, system_id, password, window=window), on_deliver)
    await session.start()
    numbers = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in numbers:
            (pdu,) = build_submit_sms(
                source_addr="Acme",
                destination_addr=f"+3069{i:08d}",
                data_coding=0,
                parts=[b"Hello from SmppSession"],
                registered_delivery=1 if receipts else 0,
                ref=0,
            )
            outcome = await session.submit(pdu)
            failures += not outcome.ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    await session.close()
    if failures:
        raise RuntimeError(f"{failures} submits failed")
    return n / seconds, parsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200, help="coroutines calling submit()")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--receipts", action="store_true")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"raw asyncio client": [], "SmppSession": []}
    cpu: dict[str, list[float]] = {"raw asyncio client": [], "SmppSession": []}  # client CPU µs per message
    with smsc_simulator(record=False, receipts=args.receipts) as smsc:
        target = (smsc.host, smsc.port, smsc.system_id, smsc.password, args.n)
        for _ in range(args.runs):
            started = time.process_time()
            rates["raw asyncio client"].append(asyncio.run(run_raw(*target, args.window, args.receipts)).rate)
            cpu["raw asyncio client"].append((time.process_time() - started) / args.n * 1e6)
            started = time.process_time()
            rate, _ = asyncio.run(run_session(*target, args.window, args.concurrency, args.receipts))
            rates["SmppSession"].append(rate)
            cpu["SmppSession"].append((time.process_time() - started) / args.n * 1e6)
    mode = "with receipts" if args.receipts else "no receipts"
    print(f"{args.n} submit_sm, window {args.window}, {mode}, {args.concurrency} submitting coroutines;")
    print(f"median of {args.runs} alternating runs; CPU is this client process's CPU time per message")
    for name, values in rates.items():
        runs = ", ".join(f"{r:,.0f}" for r in values)
        rate, median_cpu = statistics.median(values), statistics.median(cpu[name])
        print(f"{name:<19}: {rate:>7,.0f} msg/s  CPU {median_cpu:4.1f} µs/msg  runs: {runs}")
    ratio = statistics.median(rates["SmppSession"]) / statistics.median(rates["raw asyncio client"])
    print(f"ratio session/raw  : {ratio:.2f}")


if __name__ == "__main__":
    main()
