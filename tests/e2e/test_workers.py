"""Several workers share the work without sending anything twice (architecture.md, "Data and delivery
guarantees"; docs/adr/0002).

Two ``smscast worker`` processes and one API-only ``smscast serve --no-workers`` run against one PostgreSQL
database and one node-smpp simulator. Nothing crashes, so every part reaches the SMSC exactly once, both
workers take a real share, the campaign ends ``Finished`` and each part is charged once.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import TEST_DATABASE
from tests.process_harness import (
    Api,
    carrier_url,
    check_finished_and_charged_once,
    create_account,
    numbers,
    post_campaign,
    simulator,
    smscast_env,
    smscast_serve,
    smscast_worker,
    wait_finished,
    wait_until,
)

pytestmark = [
    pytest.mark.smsc,
    pytest.mark.skipif(
        TEST_DATABASE != "postgresql",
        reason="several workers share one database on PostgreSQL only; SQLite is the single-process default",
    ),
]

RECIPIENTS = 3000
LONG_NAMES = 300  # recipients whose message is two parts long
TPS = 300  # per worker (each has its own SMPP session): ~6 s for the campaign, so both workers take part
BALANCE = 1000.0
BOUND = "BIND transceiver smscast OK"


def test_two_workers_send_every_part_exactly_once(isolated_database_url: str, tmp_path: Path) -> None:
    with simulator(receipts=True, receipt_delay_ms=20) as sim:
        env = smscast_env(isolated_database_url, carrier_url(sim, window=20, tps=TPS))
        creds = create_account(env, str(BALANCE))
        with (
            smscast_serve(env, tmp_path, workers=False) as server,
            smscast_worker(env, tmp_path, name="worker-a") as worker_a,
            smscast_worker(env, tmp_path, name="worker-b") as worker_b,
        ):
            wait_until(lambda: sim.log().count(BOUND) == 2, timeout=30, what="both workers bound")
            api = Api.login(server.base_url or "", creds)
            campaign = post_campaign(api, numbers("3069488", RECIPIENTS), LONG_NAMES)
            posted = time.monotonic()
            try:
                wait_finished(api, campaign, timeout=45)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{worker_a.log_tail()}\n{worker_b.log_tail()}") from None
            took = time.monotonic() - posted
            counts = check_finished_and_charged_once(api, sim, campaign, BALANCE)
            expansions = [w.log_count(f"started with {RECIPIENTS} recipients") for w in (worker_a, worker_b)]
            assert worker_a.running() and worker_b.running()
        records = sim.records()
        binds = sim.log().count(BOUND)

    # No crash, so no duplicate: each part reached the SMSC exactly once.
    repeated = {key: count for key, count in counts.items() if count > 1}
    assert not repeated, f"{len(repeated)} parts sent more than once, e.g. {list(repeated.items())[:3]}"
    assert len(records) == campaign.total
    # One worker expanded the campaign; the other did not do it again.
    assert sorted(expansions) == [0, 1], expansions

    # Both workers sent a real share. Each SMPP session numbers its PDUs 1, 2, 3 … and neither reconnected
    # (two binds in all), so a sequence_number seen twice was used by both sessions: the number of such
    # values is a lower bound of the smaller worker's share.
    assert binds == 2, "a worker reconnected; the sequence numbers no longer tell the sessions apart"
    per_sequence = Counter(record["sequence_number"] for record in records)
    assert max(per_sequence.values()) <= 2
    smaller_share = sum(1 for count in per_sequence.values() if count == 2)
    print(f"\n[workers] parts={campaign.total} smaller share>={smaller_share} duplicates=0 took={took:.1f}s")
    assert smaller_share >= campaign.total // 10, f"one worker sent only {smaller_share} parts"
