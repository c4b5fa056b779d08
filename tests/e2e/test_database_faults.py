"""The database fails under a running campaign, and ``smscast serve`` lives through it (the reliability
issue's fault tests; docs/operations.md, "When the database fails").

A campaign is sent over SMPP to the node-smpp simulator by ``smscast serve``; a third of the way in, its
database is

- restarted: a PostgreSQL cluster of the test's own is stopped for a few seconds and started again;
- out of space: the SQLite file, or the PostgreSQL cluster's data, sits on a small tmpfs that a filler file
  fills up, then frees;
- read-only: PostgreSQL's ``default_transaction_read_only`` is switched on and the server's sessions are
  cut (what a failover onto a standby does to it), then switched off again.

While it lasts, an API write answers HTTP 503 ``503000000`` in Routee's error shape with ``Retry-After``
(never a 500, never a hang), reads answer where the database can still read, and the server's log says
what is wrong in a few lines rather than a traceback per retry. The server itself is never restarted.
Afterwards the campaign ends ``Finished``, every recipient got the whole message, a part went to the SMSC
twice no more than ADR 0002 allows (the parts the SMSC accepted during the fault are recorded once the
database is back), every part was charged exactly once, the balance equals the ledger, and SQLite's
``PRAGMA integrity_check`` says ``ok``.

PostgreSQL here is always a private cluster (``tests/fixtures/private_postgres.py``), never the shared one
``SMSCAST_TEST_DATABASE`` selects, so these tests are not marked ``db`` and run once, in the first pass of
``make test``. They need root (tmpfs, ``runuser``): without it they are skipped, except in CI, where they
fail. SQLite read-only is not among them: Linux refuses to remount a file system read-only while a process
holds a file on it open for writing (the server does, its database), and the forced read-only of an ext4
error cannot be undone while the file is open; see docs/operations.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.private_postgres import PrivatePostgres, private_postgres
from tests.fixtures.smsc_sim import SmscSimulator
from tests.fixtures.tmpfs import small_tmpfs
from tests.process_harness import (
    Api,
    Campaign,
    SmscastProcess,
    accepted_so_far,
    carrier_url,
    check_finished_and_charged_once,
    create_account,
    duplicate_bound,
    migrate_database,
    numbers,
    post_campaign,
    simulator,
    smscast_env,
    smscast_serve,
    wait_finished,
    wait_share_at_smsc,
    wait_until,
)

pytestmark = pytest.mark.smsc

RECIPIENTS = 1200
LONG_NAMES = 200  # recipients whose message is two parts long: 1,400 parts
WINDOW = 20
TPS = 150  # ~9 s at the SMSC: the fault lands in the middle
FAULT_AT = 0.3  # share of the parts at the SMSC when the fault starts
FAULT_S = 4.0  # how long the database stays down, full or read-only
# Well above the fault: a lease runs out only when renewal fails for two thirds of it (docs/adr/0002).
LEASE_S = 15
BALANCE = 1000.0
# Lines the server's log may spend on one fault: one when it starts and one when it ends per loop
# (scheduler, maintenance, the dispatchers' claims, records and renewals, callbacks) and the API...
FAULT_LOG_LINES = 30
# ...and tracebacks: the first refused receipt's (chained: two), maybe again if the fault comes and goes.
# Before db/errors.py's FaultLog a 4 s restart wrote a traceback per retry: ~60 of them, 3,000 lines.
FAULT_TRACEBACKS = 8


@pytest.fixture
def sim() -> Iterator[SmscSimulator]:
    with simulator(receipts=True, receipt_delay_ms=20) as running:
        yield running


@contextlib.contextmanager
def serve_campaign(
    database_url: str, sim: SmscSimulator, tmp_path: Path
) -> Iterator[tuple[SmscastProcess, Api]]:
    """Migrate ``database_url``, make an account, start ``smscast serve`` on it, log in."""
    env = smscast_env(
        database_url, carrier_url(sim, window=WINDOW, tps=TPS), SMSCAST_DISPATCH_LEASE_S=str(LEASE_S)
    )
    migrate_database(env)
    creds = create_account(env, str(BALANCE))
    with smscast_serve(env, tmp_path) as server:
        yield server, Api.login(server.base_url or "", creds)


def new_contact() -> dict[str, str]:
    # Long names: each write takes ~0.5 KB more, so a database whose disk is full runs out of the free
    # pages and WAL space it still has within a few dozen writes, whatever the engine wrote before.
    return {
        "mobile": f"+3069{uuid.uuid4().int % 10**8:08d}",
        "firstName": "Fault" + "f" * 195,
        "lastName": "Fault" + "l" * 195,
    }


def assert_database_fault(response: httpx.Response, fault: str) -> dict[str, Any]:
    """HTTP 503 ``503000000`` in Routee's error shape, naming the fault, with ``Retry-After``."""
    assert response.status_code == 503, f"{response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    assert body["code"] == "503000000", body
    assert body["properties"] == {"database": fault}, body
    assert "try again later" in body["developerMessage"], body
    assert int(response.headers["Retry-After"]) >= 1
    return body


def first_failed_write(api: Api, fault: str, timeout: float = 30) -> dict[str, Any]:
    """POST contacts until one is refused for ``fault``: a database that has just filled up can still take
    writes that fit in pages (or WAL) it already has. Returns the refusal's body."""
    refused: list[httpx.Response] = []

    def refused_one() -> bool:
        response = api.request("POST", "/contacts/my", json=new_contact(), timeout=15)
        if response.status_code != 200:
            refused.append(response)
        return bool(refused)

    wait_until(refused_one, timeout, f"an API write refused for {fault}", every=0.1)
    return assert_database_fault(refused[0], fault)


def assert_reads_answer(api: Api, campaign: Campaign) -> None:
    assert api.campaign(campaign.tracking_id)["trackingId"] == campaign.tracking_id
    assert api.get("/accounts/me/balance")["balance"] > 0
    assert api.get("/contacts/my", size=5)["content"]


def ride_out(server: SmscastProcess, sim: SmscSimulator) -> int:
    """Let the fault last ``FAULT_S``; the server stays up all along. Returns the parts at the SMSC then."""
    time.sleep(FAULT_S)
    assert server.running(), server.log_tail()
    return accepted_so_far(sim)


def finish_and_check(
    api: Api, server: SmscastProcess, sim: SmscSimulator, campaign: Campaign, label: str
) -> int:
    """After the fault: the campaign finishes with everything ADR 0002 promises, the API writes again, and
    the log told the story in a few lines. Returns the duplicates."""
    try:
        wait_finished(api, campaign, timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{server.log_tail()}") from None
    counts = check_finished_and_charged_once(api, sim, campaign, BALANCE)
    duplicates = sum(counts.values()) - len(counts)
    print(f"\n[{label}] parts={campaign.total} duplicates={duplicates}", end=" ")
    assert max(counts.values()) <= 2
    assert duplicates <= duplicate_bound(WINDOW, TPS)
    assert api.request("POST", "/contacts/my", json=new_contact()).status_code == 200
    assert server.running() and server.starts == 1
    told = server.log_count("try again later")
    assert 1 <= told <= FAULT_LOG_LINES, server.log_tail(80)
    # The engine's loops say when the database answers again, if they met the fault at all. On SQLite they
    # may not: with every part claimed before the disk filled, the engine only records answers, and those
    # writes can fit in WAL space that earlier writes left (the API's insert is what finds the disk full).
    if told > server.log_count(" API: "):
        assert server.log_count("the database answers again") >= 1, server.log_tail(80)
    assert server.log_count("Traceback") <= FAULT_TRACEBACKS, server.log_tail(200)
    assert server.log_count("Exception in ASGI application") == 0  # no request ended in a 500
    return duplicates


def run_fault(
    database_url: str,
    sim: SmscSimulator,
    tmp_path: Path,
    label: str,
    prefix: str,
    start: Callable[[], None],
    during: Callable[[Api, Campaign], None],
    end: Callable[[], None],
) -> None:
    with serve_campaign(database_url, sim, tmp_path) as (server, api):
        campaign = post_campaign(api, numbers(prefix, RECIPIENTS), LONG_NAMES)
        at_start = wait_share_at_smsc(sim, campaign, FAULT_AT)
        start()
        during(api, campaign)
        at_end = ride_out(server, sim)
        end()
        print(f"\n[{label}] at the SMSC: {at_start} when the fault began, {at_end} when it ended", end=" ")
        # The batches claimed before the fault kept going out: their answers were held, and recorded after.
        assert at_end > at_start
        finish_and_check(api, server, sim, campaign, label)


# --- PostgreSQL restarted ----------------------------------------------------------------------------


def test_postgres_restarted_mid_campaign(sim: SmscSimulator, tmp_path: Path) -> None:
    with private_postgres() as pg:
        url = pg.create_database("smscast")

        def during(api: Api, campaign: Campaign) -> None:
            # Down, the database can neither read nor write: both answer 503 at once, neither hangs.
            write = api.request("POST", "/contacts/my", json=new_contact(), timeout=15)
            assert_database_fault(write, "unavailable")
            read = api.request("GET", f"/campaigns/{campaign.tracking_id}", timeout=15)
            assert_database_fault(read, "unavailable")

        run_fault(url, sim, tmp_path, "postgres restart", "3069481", pg.stop, during, pg.start)


# --- out of space --------------------------------------------------------------------------------------


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sqlite_disk_full_mid_campaign(sim: SmscSimulator, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size_mb=48) as disk:
        database = disk.path / "smscast.db"

        def during(api: Api, campaign: Campaign) -> None:
            first_failed_write(api, "diskFull")
            assert_reads_answer(api, campaign)  # reading needs no space

        run_fault(
            f"sqlite:///{database}",
            sim,
            tmp_path,
            "sqlite disk full",
            "3069482",
            disk.fill,
            during,
            disk.free,
        )
        assert integrity(database) == "ok"


def test_postgres_disk_full_mid_campaign(sim: SmscSimulator, tmp_path: Path) -> None:
    """The cluster's data on a small tmpfs, its WAL beside it on another disk (a common layout; a WAL that
    cannot be written makes PostgreSQL stop itself, which is the restart above)."""
    with private_postgres(data_tmpfs_mb=96) as pg:
        disk = pg.disk
        assert disk is not None
        url = pg.create_database("smscast")

        def during(api: Api, campaign: Campaign) -> None:
            first_failed_write(api, "diskFull")
            assert_reads_answer(api, campaign)

        run_fault(url, sim, tmp_path, "postgres disk full", "3069483", disk.fill, during, disk.free)
        check_amcheck(pg)


def check_amcheck(pg: PrivatePostgres) -> None:
    """PostgreSQL's own consistency check of the indexes (amcheck) finds nothing wrong."""
    pg.sql("CREATE EXTENSION IF NOT EXISTS amcheck", "smscast")
    rows = pg.sql(
        "SELECT count(bt_index_check(c.oid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relpersistence = 'p'"
        " AND c.relnamespace = 'public'::regnamespace",
        "smscast",
    )
    assert int(rows[0][0]) > 0  # type: ignore[call-overload]


# --- read-only -----------------------------------------------------------------------------------------


def test_postgres_read_only_mid_campaign(sim: SmscSimulator, tmp_path: Path) -> None:
    """Read-only is switched on for new sessions and the server's sessions are cut, as a failover onto a
    standby does; it is switched off again without cutting anything: the server must drop its read-only
    sessions by itself (db/database.py)."""
    with private_postgres() as pg:
        url = pg.create_database("smscast")

        def start() -> None:
            pg.sql("ALTER DATABASE smscast SET default_transaction_read_only = on")
            assert pg.terminate_sessions("smscast") > 0

        def during(api: Api, campaign: Campaign) -> None:
            first_failed_write(api, "readOnly")
            assert_reads_answer(api, campaign)

        def end() -> None:
            pg.sql("ALTER DATABASE smscast RESET default_transaction_read_only")

        run_fault(url, sim, tmp_path, "postgres read-only", "3069484", start, during, end)
