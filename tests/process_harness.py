"""Run smscast as an operator does: ``smscast serve`` and ``smscast worker`` subprocesses against one database
URL and the node-smpp simulator, accounts made with the CLI, the API called over real HTTP.

    env = smscast_env(database_url, carrier_url(sim, window=20, tps=300), SMSCAST_DISPATCH_LEASE_S="8")
    creds = create_account(env, balance="1000")
    with smscast_serve(env, tmp_path) as server:
        api = Api.login(server.base_url, creds)
        ...
        server.kill()            # SIGKILL: no unbind, no last transaction
        server.restart()

Each process writes its output to a log file (never a pipe nobody reads); `SmscastProcess.log_tail` shows
it when an assertion fails. Every process started here is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from smscast.db.schema import messages
from smscast.engine.runner import EngineSettings
from tests.fixtures.smsc_sim import SmscSimulator, smsc_simulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def carrier_url(sim: SmscSimulator, **query: object) -> str:
    """``smpp://`` URL of ``sim`` with ``query`` options (``window=20, tps=300``)."""
    extra = "&".join(f"{key}={value}" for key, value in query.items())
    return f"smpp://{sim.system_id}:{sim.password}@{sim.host}:{sim.port}?{extra}"


def smscast_env(database_url: str, carrier: str = "sandbox://", **extra: str) -> dict[str, str]:
    """The environment of an smscast process: this one's, minus any ``SMSCAST_*``, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCAST_")}
    env.update(SMSCAST_DATABASE_URL=database_url, SMSCAST_CARRIER_URL=carrier, SMSCAST_QUIET_HOURS="")
    env.update(extra)
    return env


def smscast_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smscast", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate_database(env: dict[str, str]) -> None:
    """``smscast migrate``, as an operator runs it before starting anything."""
    result = smscast_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr


def create_account(env: dict[str, str], balance: str = "1000", name: str = "acme") -> dict[str, str]:
    """``smscast accounts create``: ``{"accountId", "applicationId", "applicationSecret"}``."""
    result = smscast_cli("accounts", "create", "--name", name, "--balance", balance, env=env)
    assert result.returncode == 0, result.stderr
    creds: dict[str, str] = json.loads(result.stdout)
    return creds


@dataclass
class SmscastProcess:
    """One ``smscast serve``/``smscast worker`` subprocess; `restart` starts it again with the same
    arguments, appending to the same log."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    base_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> SmscastProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts + 1}: smscast {' '.join(self.args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "smscast", *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        if self.base_url is not None:
            self.wait_healthy()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise AssertionError(f"smscast {self.args[0]} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"smscast {self.args[0]} did not come up:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing gets to clean up."""
        assert self.process is not None and self.running(), "not running"
        self.process.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.process.wait(timeout=10))

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait (SIGKILL if it does not stop in time)."""
        if self.process is None or not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_codes.append(self.process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_codes.append(self.process.wait(timeout=10))

    def restart(self) -> SmscastProcess:
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_count(self, needle: str) -> int:
        if not self.log_path.exists():
            return 0
        return sum(needle in line for line in self.log_path.read_text(errors="replace").splitlines())


@contextlib.contextmanager
def smscast_serve(
    env: dict[str, str], log_dir: Path, *, workers: bool = True, name: str = "serve"
) -> Iterator[SmscastProcess]:
    """``smscast serve --port P`` (``--no-workers`` when ``workers`` is false), healthy on entry."""
    port = free_port()
    args = ["serve", "--port", str(port), "--workers" if workers else "--no-workers"]
    proc = SmscastProcess(args, env, log_dir / f"{name}.log", base_url=f"http://127.0.0.1:{port}")
    try:
        yield proc.start()
    finally:
        proc.stop()


@contextlib.contextmanager
def smscast_worker(env: dict[str, str], log_dir: Path, *, name: str = "worker") -> Iterator[SmscastProcess]:
    """``smscast worker``; it has no HTTP side, so the caller decides what "ready" means."""
    proc = SmscastProcess(["worker"], env, log_dir / f"{name}.log")
    try:
        yield proc.start()
    finally:
        proc.stop()


@contextlib.contextmanager
def simulator(**options: Any) -> Iterator[SmscSimulator]:
    """The node-smpp simulator; a missing ``node`` fails the test (it is the peer these tests deliver to)."""
    import shutil

    if shutil.which("node") is None:
        pytest.fail("node is required: the SMSC simulator is the real peer these tests deliver to")
    with smsc_simulator(**options) as sim:
        yield sim


@dataclass
class Api:
    """A bearer-token client of one smscast server."""

    client: httpx.Client

    @classmethod
    def login(cls, base_url: str, creds: dict[str, str]) -> Api:
        response = httpx.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["applicationId"], creds["applicationSecret"]),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return cls(httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30))

    def rebase(self, base_url: str) -> Api:
        """The same token against another server process (tokens live in the shared database)."""
        self.client.close()
        return Api(httpx.Client(base_url=base_url, headers=dict(self.client.headers), timeout=30))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer, whatever its status (for asserting errors)."""
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, **kwargs: Any) -> Any:
        response = self.client.post(path, **kwargs)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def all_pages(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paged endpoint, 1000 at a time."""
        items: list[Any] = []
        page = 0
        while True:
            body = self.get(path, page=page, size=1000, **params)
            items += body["content"]
            if body["last"]:
                return items
            page += 1

    def campaign(self, tracking_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/campaigns/{tracking_id}")
        return result


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str | Callable[[], str], every: float = 0.1
) -> float:
    """Poll ``condition`` until it holds; return the seconds waited. On timeout, AssertionError naming
    ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what() if callable(what) else what}"
            )
        time.sleep(every)
    return time.monotonic() - started


HANDED_OVER = ("Sent", "Delivered", "Undelivered")


def handed_over(statuses: dict[str, int]) -> int:
    """Parts the database records as accepted by the carrier (whatever their receipt said since)."""
    return sum(statuses.get(name, 0) for name in HANDED_OVER)


def submit_counts(sim: SmscSimulator) -> Counter[tuple[str, int]]:
    """How many times the SMSC accepted each part, keyed by (destination, part number): the part number
    is the UDH sequence of a concatenated message, 1 for a single-part one."""
    counts: Counter[tuple[str, int]] = Counter()
    for record in sim.records():
        counts[(record["destination_addr"], udh_seq(record))] += 1
    return counts


def udh_seq(record: dict[str, Any]) -> int:
    """The part number a submit_sm carries: concatenation IE 0x00 (8-bit ref) or 0x08 (16-bit ref)."""
    udh = record.get("udh")
    if not udh:
        return int(record.get("sar_segment_seqnum") or 1)
    raw = bytes.fromhex(udh)
    i = 1
    while i + 1 < len(raw):
        iei, length = raw[i], raw[i + 1]
        if iei == 0x00 and length == 3:
            return raw[i + 4]
        if iei == 0x08 and length == 4:
            return raw[i + 5]
        i += 2 + length
    return 1


def wait_share_at_smsc(sim: SmscSimulator, campaign: Campaign, share: float, timeout: float = 30) -> int:
    """Wait until the SMSC has accepted ``share`` of the campaign's parts; returns how many it has. The
    moment follows the SMSC's count, not the database's, so it does not line up with the engine's writes."""
    wanted = int(campaign.total * share)
    wait_until(
        lambda: accepted_so_far(sim) >= wanted,
        timeout=timeout,
        what=lambda: f"{share:.0%} of the parts at the SMSC ({accepted_so_far(sim)} of {campaign.total})",
        every=0.02,
    )
    return accepted_so_far(sim)


def accepted_so_far(sim: SmscSimulator) -> int:
    """How many submit_sm the simulator has accepted so far, read while it is still writing: a torn last
    line is not counted (`SmscSimulator.records` expects a finished file)."""
    assert sim.record_path is not None
    if not sim.record_path.exists():
        return 0
    data = sim.record_path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return complete.count(b'{"kind":"submit"')


# --- a campaign of many recipients, some of them two parts long, and what must hold once it is over -----

BODY = "Hello [~firstName], your order has shipped and will arrive tomorrow. Reply STOP to opt out."
LONG_NAME = "Alexandra-Konstantina " * 4  # makes BODY two parts


@dataclass
class Campaign:
    tracking_id: str
    parts: dict[str, int]  # number as the SMSC sees it (no '+') -> parts

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def expected_keys(self) -> set[tuple[str, int]]:
        return {(number, part) for number, parts in self.parts.items() for part in range(1, parts + 1)}


def duplicate_bound(window: int, tps: int, engine: EngineSettings | None = None) -> int:
    """ADR 0002: what a process can have had accepted by the SMSC without recording it when it dies — the
    window in flight plus the answers of one write's interval (``record_every_s``, the answers held back
    for their receipts, ``receipt_grace_s``, and the write itself: a fifth of a second is ample here) at
    ``tps`` — and never more than it had claimed, a batch per dispatcher."""
    engine = engine or EngineSettings()
    interval = engine.record_every_s + engine.receipt_grace_s + 0.2
    return min(window + int(tps * interval), engine.batch * engine.dispatchers)


def numbers(prefix: str, count: int) -> list[str]:
    return [f"+{prefix}{n:05d}" for n in range(count)]


def post_campaign(api: Api, recipients: list[str], long_names: int) -> Campaign:
    """Import ``long_names`` contacts among ``recipients`` whose name makes the text two parts long, then
    POST one campaign to every recipient."""
    long_ones = recipients[:: max(1, len(recipients) // long_names)][:long_names]
    csv = "mobile,firstName\n" + "".join(f"{n},{LONG_NAME}{i}\n" for i, n in enumerate(long_ones))
    imported = api.post("/contacts/my/import", content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert imported["created"] == long_names and not imported["failed"], imported
    created = api.post(
        "/sms/campaign",
        json={"body": BODY, "from": "ACME", "to": recipients, "fallbackValues": {"firstName": "friend"}},
    )
    long_set = set(long_ones)
    campaign = Campaign(created["trackingId"], {n[1:]: 2 if n in long_set else 1 for n in recipients})
    assert created["totalMessages"] == campaign.total == len(recipients) + long_names, created
    return campaign


def wait_finished(api: Api, campaign: Campaign, timeout: float) -> float:
    """Wait until the campaign is ``Finished``; returns the seconds waited."""
    last: dict[str, Any] = {}

    def finished() -> bool:
        last.update(api.campaign(campaign.tracking_id))
        return bool(last["state"] == "Finished")

    return wait_until(
        finished, timeout, what=lambda: f"campaign Finished: {last.get('state')} {last.get('statuses')}"
    )


def check_finished_and_charged_once(
    api: Api, sim: SmscSimulator, campaign: Campaign, opening_balance: float
) -> Counter[tuple[str, int]]:
    """The campaign is ``Finished`` with every part ``Delivered``; the SMSC received every part of every
    recipient (at least once) and no other; each part was charged exactly once, and the balance equals both
    the opening balance minus the parts' prices and the sum of the ledger. Returns how many times the SMSC
    accepted each part."""
    details = api.campaign(campaign.tracking_id)
    assert details["state"] == "Finished"
    assert details["statuses"]["Delivered"] == campaign.total, details["statuses"]

    reached = {message["destination_addr"] for message in sim.messages()}
    missing = set(campaign.parts) - reached
    assert not missing, (
        f"{len(missing)} recipients never got their (whole) message, e.g. {sorted(missing)[:3]}"
    )
    counts = submit_counts(sim)
    assert set(counts) == campaign.expected_keys

    tracked = api.all_pages(f"/sms/tracking/campaign/{campaign.tracking_id}")
    assert len(tracked) == campaign.total
    assert all(part["price"] > 0 for part in tracked)
    spent = sum(part["price"] for part in tracked)
    balance = api.get("/accounts/me/balance")["balance"]
    assert balance == pytest.approx(opening_balance - spent, abs=1e-6)
    ledger = api.all_pages("/accounts/me/transactions")
    assert sum(t["amount"] for t in ledger) == pytest.approx(balance, abs=1e-6)
    charged = -sum(t["amount"] for t in ledger if t["transactionType"] == "Charge")
    assert charged == pytest.approx(spent, abs=1e-6)
    others = [t for t in ledger if t["transactionType"] not in ("TopUp", "Charge")]
    assert not others, others  # no refund: nothing was refused
    return counts


def recorded_parts(database_url: str, tracking_id: str) -> int:
    """Parts of the campaign whose acceptance by the carrier is recorded (they have the carrier's id)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.campaign_id == tracking_id, messages.c.carrier_message_id.is_not(None))
            ).scalar_one()
        return int(count)
    finally:
        engine.dispose()
