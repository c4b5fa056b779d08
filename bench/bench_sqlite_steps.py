"""Why SQLite's per-part writes are one statement each: the GIL hand-over per library step.

Python's ``sqlite3`` lets go of the GIL around every step of the SQLite library. ``executemany`` of n rows,
or an ``UPDATE … RETURNING`` fetched row by row, is n steps, so n hand-overs; while another thread of the
process has Python to run (the event loop, the API), each hand-over can wait for it, all with the
database's single write lock held. The engine's claim and record write hundreds of parts at a time, so they
pass the parts as one JSON parameter to one statement (`db/dispatch.py`).

This benchmark updates 500 rows of a 100,000-row table in one transaction, both ways, with and without a
second thread that alternates short bursts of Python with short sleeps (roughly an event loop with work),
and prints the median transaction time of each.

    .venv/bin/python bench/bench_sqlite_steps.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROWS = 100_000
BATCH = 500


def _database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE parts (id TEXT PRIMARY KEY, status TEXT NOT NULL, carrier_id TEXT)")
    conn.execute("CREATE INDEX ix_parts_status ON parts (status)")
    conn.executemany("INSERT INTO parts VALUES (?, 'Queued', NULL)", ((f"{i:036d}",) for i in range(ROWS)))
    return conn


def _per_row(conn: sqlite3.Connection, ids: list[str], tag: str) -> None:
    conn.executemany(
        "UPDATE parts SET status = 'Sent', carrier_id = ? WHERE id = ?", [(f"{tag}-{i}", i) for i in ids]
    )


def _one_step(conn: sqlite3.Connection, ids: list[str], tag: str) -> None:
    conn.execute(
        "UPDATE parts SET status = 'Sent', carrier_id = v.value FROM json_each(?) AS v"
        " WHERE parts.id = v.key",
        (json.dumps({i: f"{tag}-{i}" for i in ids}),),
    )


def _measure(
    conn: sqlite3.Connection, write: Callable[[sqlite3.Connection, list[str], str], None], rounds: int
) -> float:
    times = []
    for k in range(rounds):
        ids = [f"{i:036d}" for i in range(k * BATCH, (k + 1) * BATCH)]
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        write(conn, ids, str(k))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.execute("UPDATE parts SET status = 'Queued', carrier_id = NULL")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        conn = _database(Path(folder) / "steps.db")
        stop = threading.Event()

        def event_loop_like() -> None:
            while not stop.is_set():
                deadline = time.perf_counter() + 0.0005
                while time.perf_counter() < deadline:
                    pass
                time.sleep(0.0005)

        figures: dict[str, float] = {}
        for busy in (False, True):
            other = threading.Thread(target=event_loop_like, daemon=True) if busy else None
            if other is not None:
                other.start()
            for name, write in (("executemany", _per_row), ("one JSON statement", _one_step)):
                figures[f"{name}, {'busy' if busy else 'quiet'}"] = _measure(conn, write, args.rounds)
            stop.set()
            if other is not None:
                other.join()
            stop.clear()
    print(f"UPDATE of {BATCH} rows by key in one transaction, median of {args.rounds}:")
    for label, seconds in figures.items():
        print(f"  {label:32}: {seconds * 1000:8.2f} ms")
    ratio = figures["executemany, busy"] / figures["one JSON statement, busy"]
    print(f"  with another thread busy, executemany / one statement: {ratio:.1f}×")
    print("BENCH-JSON " + json.dumps({"bench": "sqlite_steps", **{k: v * 1000 for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
