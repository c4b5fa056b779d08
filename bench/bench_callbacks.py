"""Webhooks while a campaign runs: callbacks/s delivered to a local receiver, and the campaign's throughput
with and without callbacks, as a ratio measured in the same run.

``smscast serve`` (API + engine, ``sandbox://`` carrier) on a scratch SQLite database; a minimal asyncio
receiver (bench/callback_receiver.py) in its own process.

    .venv/bin/python bench/bench_callbacks.py [--recipients 3000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchlib import (
    create_account,
    free_port,
    print_json_line,
    scratch_database,
    serve,
    smscast,
    smscast_env,
    token,
)

HERE = Path(__file__).resolve().parent


def numbers(n: int, offset: int) -> list[str]:
    return [f"+3069{offset + i:08d}" for i in range(n)]


def run_campaign(http: httpx.Client, auth: dict[str, str], body: dict[str, object], timeout: float) -> float:
    started = time.perf_counter()
    response = http.post("/sms/campaign", json=body, headers=auth)
    response.raise_for_status()
    tracking_id = response.json()["trackingId"]
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if http.get(f"/campaigns/{tracking_id}", headers=auth).json()["state"] == "Finished":
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("campaign did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    n = args.recipients
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(HERE / "callback_receiver.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    assert receiver.stdout.readline().startswith("LISTENING")
    try:
        with scratch_database(args.database) as url:
            env = smscast_env(
                url, SMSCAST_CARRIER_URL="sandbox://?dlr_delay_ms=20", SMSCAST_ALLOW_PRIVATE_CALLBACKS="true"
            )
            smscast(env, "migrate")
            creds = create_account(env)
            with (
                serve(env, workers=True) as server,
                httpx.Client(base_url=server.base_url, timeout=60) as http,
            ):
                auth = {"Authorization": f"Bearer {token(http, creds)}"}
                plain = run_campaign(http, auth, {"body": "Hi", "from": "ACME", "to": numbers(n, 0)}, 600)
                hooked_body = {
                    "body": "Hi",
                    "from": "ACME",
                    "to": numbers(n, n),
                    "callback": {"url": f"http://127.0.0.1:{port}/hook", "strategy": "OnChange"},
                }
                hooked = run_campaign(http, auth, hooked_body, 600)
                expected = 2 * n  # Sent and Delivered for every part
                deadline = time.perf_counter() + 600
                while True:
                    stats = httpx.get(f"http://127.0.0.1:{port}/count").json()
                    if stats["count"] >= expected or time.perf_counter() > deadline:
                        break
                    time.sleep(0.1)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    span = max(stats["last"] - stats["first"], 1e-6)
    figures = {
        "benchmark": "callbacks",
        "database": args.database,
        "recipients": n,
        "callbacks_delivered": stats["count"],
        "callbacks_per_s": stats["count"] / span,
        "campaign_msgs_per_s_without": n / plain,
        "campaign_msgs_per_s_with": n / hooked,
        "ratio_with_over_without": plain / hooked,
    }
    print(f"database: {args.database}, {n} recipients, sandbox carrier")
    print(f"campaign without callbacks: {n / plain:,.0f} msg/s ({plain:.2f} s to Finished)")
    print(f"campaign with OnChange callbacks: {n / hooked:,.0f} msg/s ({hooked:.2f} s to Finished)")
    print(f"with / without: {plain / hooked:.2f}")
    print(f"callbacks delivered: {stats['count']} of {2 * n}, {stats['count'] / span:,.0f} callbacks/s")
    print_json_line(figures)


if __name__ == "__main__":
    main()
