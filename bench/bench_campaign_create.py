"""POST /sms/campaign with 30,000 ``to`` numbers and a personalised body, through a real ``smscast serve``.

Prints the median of the runs, and as the same-run baseline the time the server takes to answer the
same request body with a 401 (transfer + framing, no work). Target: create ≤ 1 s.

    .venv/bin/python bench/bench_campaign_create.py [--numbers 30000] [--runs 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import phonenumbers

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def numbers(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    # Mixed countries in arrival order, as customer lists come: GR, DE, GB, US mobiles.
    makers = [
        lambda: f"+3069{rng.randrange(10**8):08d}",
        lambda: f"+49151{rng.randrange(10**8):08d}",
        lambda: f"+4477{rng.randrange(10**8):08d}",
        lambda: (
            f"+1{rng.choice(['201', '212', '415', '617'])}{rng.randrange(200, 999)}{rng.randrange(10**4):04d}"
        ),
    ]
    out: set[str] = set()
    while len(out) < count:
        candidate = rng.choice(makers)()
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):  # a few random ranges are unassigned
            out.add(candidate)
    return sorted(out, key=lambda _: rng.random())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="smscast-bench-"))
    env = dict(os.environ)
    env["SMSCAST_DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    smscast = [sys.executable, "-m", "smscast"]
    subprocess.run([*smscast, "migrate"], env=env, check=True, capture_output=True)
    creds = json.loads(
        subprocess.run(
            [*smscast, "accounts", "create", "--name", "bench", "--balance", "1000000"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    port = free_port()
    server = subprocess.Popen(
        [*smscast, "serve", "--no-workers", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(200):
                try:
                    http.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(creds["applicationId"], creds["applicationSecret"]),
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            create_times: list[float] = []
            baseline_times: list[float] = []
            for run in range(args.runs + 1):
                payload = {
                    "body": "Hi [~firstName], your [~offer] code is waiting. Reply STOP to opt out.",
                    "from": "ACME",
                    "to": numbers(args.numbers, seed=run),
                    "fallbackValues": {"firstName": "friend", "offer": "autumn"},
                    "campaignName": f"bench run {run}",
                }
                body = json.dumps(payload).encode()
                headers = {**auth, "Content-Type": "application/json"}
                started = time.perf_counter()
                response = http.post("/sms/campaign", content=body, headers=headers)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text[:500]
                assert response.json()["smsAnalysis"]["numberOfRecipients"] == args.numbers
                started = time.perf_counter()
                rejected = http.post(
                    "/sms/campaign", content=body, headers={"Content-Type": "application/json"}
                )
                baseline = time.perf_counter() - started
                assert rejected.status_code == 401
                if run > 0:  # the first run warms phonenumbers' metadata and the server
                    create_times.append(elapsed)
                    baseline_times.append(baseline)
    finally:
        server.terminate()
        server.wait(timeout=30)
    create = statistics.median(create_times)
    baseline = statistics.median(baseline_times)
    print(f"database: {env['SMSCAST_DATABASE_URL'].split(':')[0]}")
    print(
        f"POST /sms/campaign, {args.numbers} numbers, personalised body: median {create * 1000:.0f} ms "
        f"(min {min(create_times) * 1000:.0f}, max {max(create_times) * 1000:.0f}) over {args.runs} runs"
    )
    print(f"baseline: same body answered 401 by the same server: median {baseline * 1000:.0f} ms")
    print(
        f"create / baseline: {create / baseline:.1f}x; "
        f"target <= 1000 ms: {'met' if create <= 1.0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
