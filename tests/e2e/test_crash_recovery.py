"""A crash loses nothing (architecture.md, "Data and delivery guarantees"; docs/adr/0002).

``smscast serve``, and then a ``smscast worker`` beside an API-only ``serve --no-workers``, is killed with
SIGKILL in the middle of a campaign sent over SMPP to the node-smpp simulator, and started again on the same
database. Every recipient is reached; a part is sent twice only if the SMSC had accepted it and the dead
process had not recorded that, which ADR 0002 bounds; every part is charged exactly once; the campaign ends
``Finished``. And the lease never runs out under a process that is alive and still sending. Runs on the
database ``SMSCAST_TEST_DATABASE`` selects (a SQLite file or PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smscast.engine.runner import EngineSettings
from tests.fixtures.smsc_sim import SmscSimulator
from tests.process_harness import (
    Api,
    Campaign,
    SmscastProcess,
    accepted_so_far,
    carrier_url,
    check_finished_and_charged_once,
    create_account,
    duplicate_bound,
    handed_over,
    numbers,
    post_campaign,
    recorded_parts,
    simulator,
    smscast_env,
    smscast_serve,
    smscast_worker,
    wait_finished,
    wait_share_at_smsc,
)

pytestmark = pytest.mark.smsc

RECIPIENTS = 2000
LONG_NAMES = 300  # recipients whose message is two parts long
WINDOW = 20
TPS = 300  # keeps the campaign at the SMSC for ~8 s: long enough to kill it half-way
LEASE_S = 6  # SMSCAST_DISPATCH_LEASE_S: how soon a dead process's claimed parts are handed out again
BALANCE = 1000.0
ENGINE = EngineSettings()  # what `smscast serve` and `smscast worker` run with


@pytest.fixture
def sim() -> Iterator[SmscSimulator]:
    with simulator(receipts=True, receipt_delay_ms=20) as running:
        yield running


def env_for(database_url: str, sim: SmscSimulator) -> dict[str, str]:
    return smscast_env(
        database_url,
        carrier_url(sim, window=WINDOW, tps=TPS),
        SMSCAST_DISPATCH_LEASE_S=str(LEASE_S),
    )


def kill_mid_campaign(
    api: Api, campaign: Campaign, victim: SmscastProcess, sim: SmscSimulator, database_url: str
) -> tuple[int, int]:
    """SIGKILL ``victim`` once the SMSC has accepted 40 % of the parts (and the database shows some, not
    all, handed over). The moment follows the SMSC's count, not the database's, so it falls anywhere in a
    claimed batch rather than just after a write. Returns (parts the SMSC accepted, parts recorded)."""
    wait_share_at_smsc(sim, campaign, 0.4)
    statuses = api.campaign(campaign.tracking_id)["statuses"]
    assert 0 < handed_over(statuses) < campaign.total, statuses
    victim.kill()
    time.sleep(0.5)  # whatever was already on the wire reaches the SMSC
    accepted, recorded = accepted_so_far(sim), recorded_parts(database_url, campaign.tracking_id)
    assert accepted < campaign.total, (
        f"the SMSC had every part before the kill ({accepted}): slow the campaign down (tps) so that the "
        "crash happens mid-way"
    )
    return accepted, recorded


def check_duplicates(label: str, counts: dict[tuple[str, int], int], accepted: int, recorded: int) -> int:
    """Sent twice are exactly the parts the SMSC accepted that the dead process had not recorded."""
    duplicates = sum(count - 1 for count in counts.values())
    print(
        f"\n[{label}] at the SMSC when killed={accepted} recorded={recorded} duplicates={duplicates} "
        f"bound={duplicate_bound(WINDOW, TPS, ENGINE)}",
        end=" ",
    )
    assert duplicates == accepted - recorded
    assert max(counts.values()) <= 2
    assert duplicates <= duplicate_bound(WINDOW, TPS, ENGINE)
    return duplicates


def test_serve_killed_mid_campaign_loses_nothing(
    isolated_database_url: str, sim: SmscSimulator, tmp_path: Path
) -> None:
    env = env_for(isolated_database_url, sim)
    creds = create_account(env, str(BALANCE))
    with smscast_serve(env, tmp_path) as server:
        api = Api.login(server.base_url or "", creds)
        campaign = post_campaign(api, numbers("3069486", RECIPIENTS), LONG_NAMES)
        accepted, recorded = kill_mid_campaign(api, campaign, server, sim, isolated_database_url)
        restarted = time.monotonic()
        server.restart()
        api = api.rebase(server.base_url or "")
        try:
            wait_finished(api, campaign, timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{server.log_tail()}") from None
        recovery = time.monotonic() - restarted
        counts = check_finished_and_charged_once(api, sim, campaign, BALANCE)
    check_duplicates("serve", counts, accepted, recorded)
    print(f"recovery={recovery:.1f}s")
    assert sim.log().count("BIND transceiver smscast OK") == 2  # one bind per life of the process


def test_worker_killed_mid_campaign_loses_nothing(
    isolated_database_url: str, sim: SmscSimulator, tmp_path: Path
) -> None:
    env = env_for(isolated_database_url, sim)
    creds = create_account(env, str(BALANCE))
    with smscast_serve(env, tmp_path, workers=False) as server, smscast_worker(env, tmp_path) as worker:
        api = Api.login(server.base_url or "", creds)
        campaign = post_campaign(api, numbers("3069487", RECIPIENTS), LONG_NAMES)
        accepted, recorded = kill_mid_campaign(api, campaign, worker, sim, isolated_database_url)
        # The API alone sends nothing: the dead worker's claimed parts wait for a worker.
        time.sleep(0.5)
        assert accepted_so_far(sim) == accepted
        assert handed_over(api.campaign(campaign.tracking_id)["statuses"]) == recorded
        restarted = time.monotonic()
        worker.restart()
        try:
            wait_finished(api, campaign, timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{worker.log_tail()}") from None
        recovery = time.monotonic() - restarted
        counts = check_finished_and_charged_once(api, sim, campaign, BALANCE)
    check_duplicates("worker", counts, accepted, recorded)
    print(f"recovery={recovery:.1f}s")
    assert sim.log().count("BIND transceiver smscast OK") == 2


def test_a_live_process_keeps_its_lease_through_a_slow_batch(
    isolated_database_url: str, sim: SmscSimulator, tmp_path: Path
) -> None:
    """The other side of the lease: it must not run out under a process that is alive and still sending.
    At 100 msg/s the 1,000 parts claimed at once take 10 s, five leases of 2 s: the dispatcher renews the
    lease of what it has not recorded yet, so nothing is handed out (and sent) a second time."""
    env = smscast_env(
        isolated_database_url, carrier_url(sim, window=WINDOW, tps=100), SMSCAST_DISPATCH_LEASE_S="2"
    )
    creds = create_account(env, str(BALANCE))
    with smscast_serve(env, tmp_path) as server:
        api = Api.login(server.base_url or "", creds)
        campaign = post_campaign(api, numbers("3069485", 900), 100)
        took = wait_finished(api, campaign, timeout=45)
        counts = check_finished_and_charged_once(api, sim, campaign, BALANCE)
    duplicates = sum(counts.values()) - len(counts)
    print(f"\n[slow batch] parts={campaign.total} took={took:.1f}s duplicates={duplicates}")
    assert took > 4 * 2  # the batch did outlast several leases
    assert max(counts.values()) == 1
