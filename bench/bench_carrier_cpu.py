"""CPU per message of the SMPP carrier process, against a same-run baseline, through the node simulator.

The carrier runs where production runs it: in the child process of `ProcessCarrier` (``python -m
smscast.carriers.process``, i.e. `SmppCarrier` over `SmppSession`). This script plays the engine: a few
dispatchers each hand the carrier a batch of parts (``submit_each``) and wait for all its answers, and a
receipt sink acknowledges every receipt. The figure is the child's CPU time (user + system, from /proc)
between the first batch and the last receipt, divided by the messages: submit_sm, submit_sm_resp, the
deliver_sm receipt and its deliver_sm_resp, plus the child's framing to and from the engine.

The baseline is a copy of the current ``src`` whose SMPP files (``src/smscast/smpp``,
``src/smscast/carriers/smpp.py``) come from ``--baseline`` (a git revision); the child imports it through
PYTHONPATH. Runs alternate baseline / current; medians and the current/baseline ratio are printed.

    python bench/bench_carrier_cpu.py                  # 20,000 messages, 5 alternating runs
    python bench/bench_carrier_cpu.py -n 5000 --runs 3 --baseline HEAD~3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "bench"))

from smsc_sim import smsc_simulator  # noqa: E402

from benchlib import cpu_seconds  # noqa: E402
from smscast.carriers.base import DeliveryReport, OutboundPart, SubmitResult  # noqa: E402
from smscast.carriers.process import ProcessCarrier  # noqa: E402

OWNED = ("src/smscast/smpp", "src/smscast/carriers/smpp.py")
BATCH = 500  # parts per submit_each, as the engine claims them


def baseline_tree(revision: str, into: Path) -> Path:
    """A copy of ``src`` with the SMPP files of ``revision``; returns the directory to put on PYTHONPATH."""
    src = into / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.rmtree(src / "smscast" / "smpp")
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", revision, "--", *OWNED],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for path in listing:
        show = ["git", "show", f"{revision}:{path}"]
        shown = subprocess.run(show, cwd=ROOT, capture_output=True, check=True)
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shown.stdout)
    return src


def parts(n: int) -> list[OutboundPart]:
    text = b"Hello from the carrier bench"
    return [
        OutboundPart(f"{i}", f"+3069{i:08d}", "Acme", 0, text, 1, 1, i & 0xFF, False, None) for i in range(n)
    ]


async def run_once(url: str, pythonpath: Path, n: int, dispatchers: int) -> tuple[float, float]:
    """One campaign of ``n`` single-part messages through a fresh carrier process running the code on
    ``pythonpath``; returns (child CPU µs per message, messages per second)."""
    os.environ["PYTHONPATH"] = str(pythonpath)
    os.environ.setdefault("SMSCAST_LOG_LEVEL", "WARNING")
    receipts = 0
    all_receipts = asyncio.Event()

    async def sink(reports: Sequence[DeliveryReport]) -> None:
        nonlocal receipts
        receipts += len(reports)
        if receipts >= n:
            all_receipts.set()

    carrier = ProcessCarrier(url)
    await carrier.start(sink)
    assert carrier._child is not None
    pid = carrier._child.pid
    todo = parts(n)
    failures = 0

    async def submit_batch(batch: list[OutboundPart]) -> None:
        left = len(batch)
        done = asyncio.Event()

        def on_result(_index: int, result: SubmitResult) -> None:
            nonlocal left, failures
            failures += result.carrier_id is None
            left -= 1
            if not left:
                done.set()

        carrier.submit_each(batch, on_result)
        await done.wait()

    async def dispatcher() -> None:
        while todo:
            batch = todo[:BATCH]
            del todo[:BATCH]
            await submit_batch(batch)

    cpu_before, started = cpu_seconds(pid, children=False), time.perf_counter()
    await asyncio.gather(*(dispatcher() for _ in range(dispatchers)))
    await asyncio.wait_for(all_receipts.wait(), 120)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid, children=False) - cpu_before
    await carrier.close()
    if failures:
        raise RuntimeError(f"{failures} submits failed")
    return cpu / n * 1e6, n / seconds


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--dispatchers", type=int, default=4)
    parser.add_argument("--baseline", default="9475d06", help="git revision of the baseline's SMPP files")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {"baseline": [], "current": []}
    rates: dict[str, list[float]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="bench-carrier-") as tmp:
        trees = {"baseline": baseline_tree(args.baseline, Path(tmp)), "current": ROOT / "src"}
        with smsc_simulator(record=False, receipts=True) as sim:
            url = f"smpp://{sim.system_id}:{sim.password}@{sim.host}:{sim.port}?window={args.window}"
            for _ in range(args.runs):
                for name, tree in trees.items():
                    per_message, rate = asyncio.run(run_once(url, tree, args.n, args.dispatchers))
                    cpu[name].append(per_message)
                    rates[name].append(rate)
    print(f"{args.n} messages, receipts on, window {args.window}, {args.dispatchers} dispatchers × {BATCH}")
    print(
        f"carrier process CPU per message, median of {args.runs} alternating runs; baseline {args.baseline}"
    )
    for name in cpu:
        runs = ", ".join(f"{value:.1f}" for value in cpu[name])
        print(
            f"{name:<8}: {statistics.median(cpu[name]):6.1f} µs/msg  "
            f"{statistics.median(rates[name]):7,.0f} msg/s  runs: {runs}"
        )
    ratio = statistics.median(cpu["current"]) / statistics.median(cpu["baseline"])
    pairs = ", ".join(f"{new / old:.2f}" for old, new in zip(cpu["baseline"], cpu["current"], strict=True))
    print(f"current/baseline CPU: {ratio:.2f} (per run: {pairs})")


if __name__ == "__main__":
    main()
