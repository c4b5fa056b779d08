"""Run every benchmark in bench/ and print one table of the headline figures (``make bench``).

Each ``bench_*.py`` runs in its own process, one after the other (the machine has two cores: benchmarks
must not overlap). Their full output goes to a log folder (printed at the end); the table takes the figures
from their ``BENCH-JSON`` lines, or from their text for the older ones. A benchmark that is missing shows
as "pending", one that failed as "FAILED" (see its log).

    .venv/bin/python bench/run_all.py [--quick] [--only e2e,start,...]

``--quick`` uses small sizes (a smoke test of the harness, not figures to quote).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


@dataclass
class Bench:
    key: str
    script: str
    args: list[str]
    quick_args: list[str]
    timeout_s: int
    output: str = ""
    failed: str | None = None
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return (BENCH / self.script).exists()


BENCHES = [
    # Five runs a database: the raw client's rate moves by a third from minute to minute on this machine.
    Bench("e2e", "bench_e2e.py", ["-n", "20000", "--runs", "5"], ["-n", "2000", "--runs", "1"], 900),
    Bench("create", "bench_campaign_create.py", ["--runs", "5"], ["--numbers", "3000", "--runs", "1"], 600),
    Bench(
        "start",
        "bench_campaign_start.py",
        ["-n", "1000000", "--databases", "sqlite,postgresql"],
        ["-n", "20000", "--databases", "sqlite,postgresql"],
        1800,
    ),
    Bench("put", "bench_put.py", ["--clients", "32", "--seconds", "8"], ["--seconds", "2"], 600),
    Bench("callbacks", "bench_callbacks.py", [], ["--recipients", "300"], 900),
    Bench("session", "bench_smpp_session.py", ["--runs", "3"], ["-n", "2000", "--runs", "1"], 600),
    Bench("numbers", "bench_numbers.py", [], [], 600),
    Bench("text", "bench_text.py", [], [], 300),
    Bench("steps", "bench_sqlite_steps.py", [], ["--rounds", "10"], 300),
]


def run(bench: Bench, quick: bool, logs: Path) -> None:
    started = time.perf_counter()
    command = [sys.executable, str(BENCH / bench.script), *(bench.quick_args if quick else bench.args)]
    print(f"running {' '.join(command[1:])} …", flush=True)
    try:
        done = subprocess.run(
            command, cwd=BENCH.parent, capture_output=True, text=True, timeout=bench.timeout_s, check=False
        )
        bench.output = done.stdout + done.stderr
        if done.returncode != 0:
            bench.failed = f"exit {done.returncode}"
    except subprocess.TimeoutExpired as exc:
        bench.output = str(exc.stdout or "") + str(exc.stderr or "")
        bench.failed = f"timed out after {bench.timeout_s} s"
    bench.seconds = time.perf_counter() - started
    (logs / f"{bench.key}.log").write_text(bench.output)
    for line in bench.output.splitlines():
        if line.startswith("BENCH-JSON "):
            bench.records.append(json.loads(line[len("BENCH-JSON ") :]))


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024**2:.1f} GiB RAM, Python {python}"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


Row = tuple[str, str, str, str]  # figure, value, baseline / detail, target and verdict


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def rows_e2e(bench: Bench) -> list[Row]:
    out: list[Row] = []
    for r in bench.records:
        out.append(
            (
                f"e2e campaign throughput, {r['database']} ({r['n']:,} recipients, receipts)",
                f"{r['e2e']:,.0f} msg/s = {r['ratio']:.2f} × raw",
                f"raw asyncio client {r['raw']:,.0f} msg/s to its last receipt"
                f" ({r.get('raw_acks', 0):,.0f} to its last ack); seen by the 50 ms poll"
                f" {r.get('observed', 0):,.0f} msg/s = {r.get('observed', 0) / r['raw']:.2f} × raw;"
                f" server CPU {r.get('cpu_us', 0):.0f} µs/msg ({r.get('main_cpu_us', 0):.0f} outside the"
                f" carrier process), PostgreSQL's backends {r.get('database_cpu_us', 0):.0f}",
                f"≥ 0.5 × raw: {verdict(r['ratio'] >= 0.5)}",
            )
        )
    return out


def rows_create(bench: Bench) -> list[Row]:
    create = re.search(r"POST /sms/campaign, (\d+) numbers, personalised body: median (\d+) ms", bench.output)
    baseline = re.search(r"401 by the same server: median (\d+) ms", bench.output)
    if not create:
        return []
    numbers, ms = int(create.group(1)), int(create.group(2))
    detail = f"same body answered 401: {baseline.group(1)} ms" if baseline else ""
    title = f"POST /sms/campaign, {numbers:,} numbers (create latency)"
    return [(title, f"{ms} ms", detail, f"≤ 1000 ms: {verdict(ms <= 1000)}")]


def rows_start(bench: Bench) -> list[Row]:
    out: list[Row] = []
    for r in bench.records:
        out.append(
            (
                f"campaign start, {r['n']:,}-contact group, {r['database']}",
                f"{r['rate']:,.0f} recipients/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                f"Queued → Running in {r['seconds']:.1f} s",
                f"≥ 100,000/s: {verdict(r['rate'] >= 100_000)}; ≤ 300 MB: {verdict(r['peak_rss_mb'] <= 300)}",
            )
        )
    return out


def rows_put(bench: Bench) -> list[Row]:
    out: list[Row] = []
    for r in bench.records:
        put, health = r["put"], r["health"]
        out.append(
            (
                f"PUT /sms/{{id}}, {r['clients']} concurrent clients ({r['database']})",
                f"{put['rate']:,.0f} req/s, p99 {put['p99_ms']:.0f} ms",
                f"GET /health {health['rate']:,.0f} req/s, p99 {health['p99_ms']:.0f} ms; "
                f"PUT/health {r['ratio']:.2f}",
                "measured (no target)",
            )
        )
    return out


def rows_callbacks(bench: Bench) -> list[Row]:
    out: list[Row] = []
    for r in bench.records:
        out.append(
            (
                f"callbacks ({r.get('database', '?')}, {r.get('recipients', '?')} recipients)",
                f"{r['callbacks_per_s']:,.0f} callbacks/s",
                f"campaign throughput with/without callbacks: {r['ratio_with_over_without']:.2f}"
                if r.get("ratio_with_over_without")
                else "",
                "measured",
            )
        )
    return out


def _found(bench: Bench, *patterns: str) -> list[str] | None:
    """The first group of each pattern in the benchmark's output, or None when one is missing."""
    matches = [re.search(pattern, bench.output) for pattern in patterns]
    return None if None in matches else [match.group(1) for match in matches if match is not None]


def rows_measured(title: str, value: str, detail: str, **patterns: str) -> Callable[[Bench], list[Row]]:
    """One "measured" row: each named pattern's first group from the output, put into ``value`` and
    ``detail`` by name (``str.format``); no row when a pattern is missing."""

    def rows(bench: Bench) -> list[Row]:
        found = _found(bench, *patterns.values())
        if found is None:
            return []
        named = dict(zip(patterns, found, strict=True))
        return [(title, value.format(**named), detail.format(**named), "measured")]

    return rows


def rows_log_only(title: str) -> Callable[[Bench], list[Row]]:
    def rows(bench: Bench) -> list[Row]:
        return [(title, "see log", "", "measured")]

    return rows


ROWS: dict[str, tuple[str, Callable[[Bench], list[Row]]]] = {
    "e2e": ("e2e campaign throughput", rows_e2e),
    "create": ("POST /sms/campaign, 30,000 numbers", rows_create),
    "start": ("campaign start, 1,000,000-contact group", rows_start),
    "put": ("PUT /sms/{id}, 32 concurrent clients", rows_put),
    "callbacks": ("callbacks/s", rows_callbacks),
    "session": (
        "SmppSession alone",
        rows_measured(
            "SmppSession alone (no receipts)",
            "{session} msg/s = {ratio} × raw",
            "raw asyncio client {raw} msg/s",
            ratio=r"ratio session/raw\s*:\s*([\d.]+)",
            session=r"SmppSession\s*:\s*([\d,]+) msg/s",
            raw=r"raw asyncio client\s*:\s*([\d,]+) msg/s",
        ),
    ),
    "numbers": (
        "number validation (bench_numbers.py)",
        rows_log_only("number validation (bench_numbers.py)"),
    ),
    "text": ("text analysis (bench_text.py)", rows_log_only("text analysis (bench_text.py)")),
    "steps": (
        "SQLite statement steps",
        rows_measured(
            "SQLite: 500 rows by key, a busy thread beside",
            "one JSON statement {one} ms",
            "executemany {per_row} ms ({quiet} ms with no other thread)",
            per_row=r"executemany, busy\s*:\s*([\d.]+) ms",
            one=r"one JSON statement, busy\s*:\s*([\d.]+) ms",
            quiet=r"executemany, quiet\s*:\s*([\d.]+) ms",
        ),
    ),
}


def table(benches: list[Bench]) -> str:
    lines = ["| figure | value | baseline / detail (same run) | target |", "|---|---|---|---|"]
    for bench in benches:
        title, make = ROWS[bench.key]
        if not bench.exists:
            lines.append(f"| {title} | pending | {bench.script} does not exist yet | |")
            continue
        rows = [] if bench.failed and not bench.records else make(bench)
        if bench.failed:
            lines.append(f"| {title} | FAILED ({bench.failed}) | see {bench.key}.log | |")
        elif not rows:
            lines.append(f"| {title} | no figures | see {bench.key}.log | |")
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not figures")
    parser.add_argument("--only", help="comma-separated keys: " + ",".join(b.key for b in BENCHES))
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.key in args.only.split(",")]
    logs = Path(tempfile.mkdtemp(prefix="smscast-bench-logs-"))
    load_before = load()
    started = time.perf_counter()
    for bench in chosen:
        if bench.exists:
            run(bench, args.quick, logs)
    print()
    print(f"machine: {machine()}")
    total = time.perf_counter() - started
    print(f"load average (1/5/15 min) before: {load_before}, after: {load()}; total {total:.0f} s")
    if args.quick:
        print("QUICK RUN: small sizes, not figures to quote")
    print()
    print(table(chosen))
    print()
    print(f"full output of each benchmark: {logs}/")
    if any(b.failed for b in chosen):
        sys.exit(1)


if __name__ == "__main__":
    main()
