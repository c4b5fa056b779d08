"""The README path: migrate, create an account, serve, get a token and call the API (SQLite file)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _smscast(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smscast", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_and_serve(tmp_path: Path) -> None:
    env = {**os.environ, "SMSCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'smscast.db'}"}
    assert _smscast("migrate", env=env).returncode == 0
    created = _smscast(
        "accounts", "create", "--name", "acme", "--balance", "100", "--currency", "EUR", env=env
    )
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    assert set(creds) == {"accountId", "applicationId", "applicationSecret"}
    topped = _smscast("accounts", "topup", creds["accountId"], "5.5", env=env)
    assert json.loads(topped.stdout)["balance"] == 105.5
    bad = _smscast("accounts", "topup", creds["accountId"], "--", "-1", env=env)
    assert bad.returncode == 1 and "400000000" in bad.stderr
    missing = _smscast("accounts", "topup", "nope", "1", env=env)
    assert missing.returncode == 1 and "404001001" in missing.stderr
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "mcc,mnc,iso,country,network,price\n202,01,GR,Greece,Cosmote,0.05\n000,000,ZZ,Other,All,0.1\n"
    )
    assert json.loads(_smscast("prices", "load", str(prices), env=env).stdout) == {"loaded": 2}
    bad_prices = tmp_path / "bad.csv"
    bad_prices.write_text("mcc,iso\n1,GR\n")
    assert _smscast("prices", "load", str(bad_prices), env=env).returncode == 1

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "smscast", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/health").json() == {"status": "UP"}
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        token = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["applicationId"], creds["applicationSecret"]),
        ).json()["access_token"]
        balance = httpx.get(
            f"{base}/accounts/me/balance", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert balance["balance"] == 105.5
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_bad_setting_is_reported_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "SMSCAST_DATABASE_URL": "mysql://nope"}
    result = _smscast("migrate", env=env)
    assert result.returncode == 2
    assert "SMSCAST_DATABASE_URL" in result.stderr
