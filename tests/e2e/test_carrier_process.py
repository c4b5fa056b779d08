"""The SMPP carrier in a child process (carriers/process.py), against the node-smpp simulator: it delivers,
a killed child is replaced with nothing lost and few duplicates, a closed engine leaves no child behind,
and an SMSC that cannot be reached fails the start with a clear error."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.base import DeliveryReport
from smscast.carriers.factory import carrier_from_url
from smscast.carriers.process import ProcessCarrier
from smscast.carriers.smpp import SmppCarrier
from smscast.db.schema import messages
from tests.conftest import new_tenant
from tests.e2e.test_engine_smpp import FAST, smsc, state, statuses
from tests.engine_harness import running_engine, wait_for
from tests.process_harness import (
    Api,
    accepted_so_far,
    carrier_url,
    create_account,
    free_port,
    numbers,
    recorded_parts,
    simulator,
    smscast_env,
    smscast_serve,
    wait_until,
)

pytestmark = pytest.mark.smsc
WINDOW = 20


def test_the_carrier_url_chooses_the_process() -> None:
    url = "smpp://smscast:secret@127.0.0.1:2775?window=20"
    assert isinstance(carrier_from_url(url), ProcessCarrier)
    assert isinstance(carrier_from_url(url + "&process=off"), SmppCarrier)
    with pytest.raises(ValueError, match="process is on or off"):
        carrier_from_url(url + "&process=maybe")


def test_a_killed_carrier_process_is_replaced_and_nothing_is_lost(
    isolated: tuple[Container, TestClient],
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    numbers = [f"+3069486{n:05d}" for n in range(1, 401)]
    campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers}).json()
    tracking_id = campaign["trackingId"]
    with smsc(receipt_delay_ms=10) as sim:
        url = f"smpp://{sim.system_id}:{sim.password}@{sim.host}:{sim.port}?window={WINDOW}&tps=150"
        carrier = carrier_from_url(url)
        assert isinstance(carrier, ProcessCarrier)
        with running_engine(container, carrier, FAST):
            wait_for(lambda: statuses(tenant, tracking_id).get("Delivered", 0) >= 100, what="100 delivered")
            child = carrier._child
            assert child is not None
            os.kill(child.pid, signal.SIGKILL)
            wait_for(lambda: carrier._child is not child, what="a new carrier process")
            wait_for(lambda: state(tenant, tracking_id) == "Finished", timeout=90, what="campaign finished")
            records = sim.records()
        assert carrier._child is not None and carrier._child.returncode is not None  # closed with the engine
    counts = statuses(tenant, tracking_id)
    assert counts["Delivered"] == len(numbers), counts
    received = Counter(record["destination_addr"] for record in records)
    assert set(received) == {number.removeprefix("+") for number in numbers}
    # Only what was in flight in the killed process can have been sent twice (docs/adr/0002).
    assert sum(received.values()) - len(numbers) <= WINDOW


def test_an_unreachable_smsc_fails_the_start_clearly() -> None:
    carrier = ProcessCarrier(f"smpp://smscast:secret@127.0.0.1:{free_port()}?window=5")

    async def start() -> None:
        async def sink(_reports: list[DeliveryReport]) -> None:
            return None

        await carrier.start(sink)

    with pytest.raises(OSError, match="SMPP carrier could not start"):
        asyncio.run(start())
    assert carrier._child is not None and carrier._child.returncode is not None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_carrier_process_never_outlives_serve(isolated_database_url: str, tmp_path: Path) -> None:
    """kill -9 of `smscast serve`: its carrier process sees the socket close and exits by itself."""
    with simulator() as sim:
        env = smscast_env(isolated_database_url, carrier_url(sim, window=WINDOW))
        with smscast_serve(env, tmp_path) as server:
            wait_until(lambda: len(_children(server.pid)) == 1, 30, "the carrier process")
            (child,) = _children(server.pid)
            assert "smscast.carriers.process" in Path(f"/proc/{child}/cmdline").read_text()
            server.kill()
            wait_until(lambda: not _alive(child), 60, "the orphaned carrier process to exit")


@pytest.mark.parametrize("whole_group", [False, True], ids=["serve", "serve-and-carrier"])
def test_sigterm_finishes_the_batch_in_flight_and_unbinds(
    isolated_database_url: str, tmp_path: Path, whole_group: bool
) -> None:
    """`smscast serve` stopped by SIGTERM mid-campaign: its engine records the batch it was sending (no part
    left leased and unrecorded, everything the SMSC accepted has its carrier id), closes the carrier process,
    exits 0. Also when the carrier process gets the signal too (Ctrl-C in a terminal, systemd's cgroup
    kill)."""
    database_url = isolated_database_url  # serve sends everything queued: only this test's campaign
    with simulator() as sim:
        env = smscast_env(database_url, carrier_url(sim, window=WINDOW, tps=200))
        creds = create_account(env)
        with smscast_serve(env, tmp_path) as server:
            api = Api.login(server.base_url, creds)
            campaign = api.post(
                "/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers("3069487", 600)}
            )
            wait_until(lambda: accepted_so_far(sim) >= 100, 60, "100 parts at the SMSC")
            (child,) = _children(server.pid)
            if whole_group:
                os.kill(child, signal.SIGTERM)
            server.stop()
            assert server.exit_codes == [0], server.log_tail()
            assert not _alive(child)
            accepted = accepted_so_far(sim)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            sending = conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.status == "Queued", messages.c.lease_until.is_not(None))
            ).scalar_one()
    finally:
        engine.dispose()
    assert sending == 0
    assert recorded_parts(database_url, campaign["trackingId"]) == accepted
