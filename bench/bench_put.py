"""``PUT /sms/{trackingId}`` (update a scheduled campaign) under 32 concurrent clients, against a real
``smscast serve --no-workers``; the same load on ``GET /health`` of the same server is the baseline.

Setup (not timed): ``--campaigns`` campaigns scheduled a day ahead, each to ``--numbers`` numbers. Then,
for ``--seconds`` each (after a short warm-up), ``--clients`` keep-alive connections send requests back to
back: first ``GET /health``, then ``PUT /sms/{id}`` with a full new definition (new body, same numbers,
still scheduled) for a campaign picked at random. A minimal asyncio HTTP/1.1 client keeps the load
generator's own cost low. Prints requests/s, p50 and p99 latency for both, and PUT/health.

    .venv/bin/python bench/bench_put.py [--clients 32] [--seconds 8] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import (  # noqa: E402
    create_account,
    postgres_available,
    print_json_line,
    scratch_database,
    serve,
    smscast,
    smscast_env,
    token,
)


class Connection:
    """One keep-alive HTTP/1.1 connection; ``request`` returns (status, seconds)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def load(
    host: str,
    port: int,
    clients: int,
    seconds: float,
    make: object,
) -> tuple[list[float], int]:
    """``clients`` connections sending ``make()`` requests back to back for ``seconds``; latencies and the
    number of non-2xx answers."""
    assert callable(make)
    connections = [await Connection.open(host, port) for _ in range(clients)]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(conn: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            method, path, headers, body = make()
            started = time.perf_counter()
            status = await conn.request(method, path, headers, body)
            latencies.append(time.perf_counter() - started)
            errors += not 200 <= status < 300

    try:
        await asyncio.gather(*(client(c) for c in connections))
    finally:
        for conn in connections:
            conn.close()
    return latencies, errors


def summary(name: str, latencies: list[float], seconds: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    rate = len(ordered) / seconds
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"  {name:<16}: {rate:>7,.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   non-2xx {errors}")
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--numbers", type=int, default=20)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.database == "postgresql" and not postgres_available():
        print("postgresql: unreachable, skipped")
        return
    when = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with scratch_database(args.database) as url:
        env = smscast_env(url)
        smscast(env, "migrate")
        creds = create_account(env)
        with serve(env, workers=False) as server, httpx.Client(base_url=server.base_url, timeout=60) as http:
            auth = {"Authorization": f"Bearer {token(http, creds)}"}
            ids: list[tuple[str, list[str]]] = []
            for c in range(args.campaigns):
                to = [f"+30694{c:03d}{n:04d}" for n in range(args.numbers)]
                created = http.post(
                    "/sms/campaign",
                    json={"body": "Autumn offer", "from": "ACME", "to": to, "scheduledDate": when},
                    headers=auth,
                )
                created.raise_for_status()
                ids.append((created.json()["trackingId"], to))
            host, port = server.base_url.removeprefix("http://").split(":")
            counter = iter(range(10**9))
            json_headers = {**auth, "Content-Type": "application/json"}

            def health() -> tuple[str, str, dict[str, str], bytes]:
                return "GET", "/health", {}, b""

            def put() -> tuple[str, str, dict[str, str], bytes]:
                tracking_id, to = random.choice(ids)
                body = {
                    "body": f"Autumn offer, update {next(counter)}",
                    "from": "ACME",
                    "to": to,
                    "scheduledDate": when,
                }
                return "PUT", f"/sms/{tracking_id}", json_headers, json.dumps(body).encode()

            figures: dict[str, dict[str, float]] = {}
            for name, make in (("GET /health", health), ("PUT /sms/{id}", put)):
                asyncio.run(load(host, int(port), args.clients, 1.0, make))  # warm-up
                latencies, errors = asyncio.run(load(host, int(port), args.clients, args.seconds, make))
                if name == "GET /health":
                    print(f"{args.database}: {args.clients} keep-alive clients, {args.seconds:.0f} s each")
                figures[name] = summary(name, latencies, args.seconds, errors)
                if errors:
                    raise SystemExit(f"{name}: {errors} requests were not answered 2xx")
    ratio = figures["PUT /sms/{id}"]["rate"] / figures["GET /health"]["rate"]
    print(f"  PUT / health     : {ratio:.2f} of the trivial endpoint's rate")
    print_json_line(
        {
            "bench": "put",
            "database": args.database,
            "clients": args.clients,
            "put": figures["PUT /sms/{id}"],
            "health": figures["GET /health"],
            "ratio": ratio,
        }
    )


if __name__ == "__main__":
    main()
