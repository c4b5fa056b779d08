"""An update racing the scheduler's start either wins entirely or gets 400009002 — never a mix (§4.3)."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.campaigns import CampaignRepository
from smscast.domain.campaigns import CampaignDefinition, CampaignState
from smscast.domain.errors import CampaignNotScheduled
from tests.conftest import Tenant, new_tenant

WORKERS = 6
ROUNDS = 3


def _definition(worker: int, i: int, when: datetime) -> CampaignDefinition:
    return CampaignDefinition(
        body=f"version {worker}-{i}",
        sender=f"W{worker}I{i}",
        to=(f"+3069485{worker:02d}{i:03d}",),
        scheduled_date=when,
    )


def test_concurrent_updates_against_start(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    for round_no in range(ROUNDS):
        _race_once(container, tenant, round_no)


def _race_once(container: Container, tenant: Tenant, round_no: int) -> None:
    principal = container.accounts.authenticate(tenant.token)
    service = container.campaigns
    when = datetime.now(UTC) + timedelta(hours=1)
    tracking_id = service.create(principal, _definition(99, round_no, when)).row.tracking_id
    successes: list[tuple[int, CampaignDefinition]] = []
    losers = 0
    lock = threading.Lock()
    started_ids = []

    def updater(worker: int) -> None:
        nonlocal losers
        for i in range(200):
            definition = _definition(worker, i, when)
            try:
                view = service.update_scheduled(principal, tracking_id, definition)
            except CampaignNotScheduled:
                with lock:
                    losers += 1
                return
            with lock:
                successes.append((view.row.version, definition))

    def starter() -> None:
        time.sleep(random.uniform(0.02, 0.15))
        # The scheduler skips a row an update holds locked (SKIP LOCKED) and retries on its next tick.
        while not started_ids:
            with container.db.write() as conn:
                rows = CampaignRepository(conn).start_due(datetime.now(UTC) + timedelta(days=1))
            started_ids.extend(r for r in rows if r == tracking_id)

    threads = [threading.Thread(target=updater, args=(w,)) for w in range(WORKERS)]
    threads.append(threading.Thread(target=starter))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(started_ids) == 1
    with container.db.read() as conn:
        row = CampaignRepository(conn).get(principal.account_id, tracking_id)
    assert row is not None and row.state is CampaignState.QUEUED
    assert row.started_version == row.version == 1 + len(successes)
    # What is sent is the definition as the start left it: no update changed it afterwards.
    sent = json.loads(row.definition)
    # The last update to commit is the one with the highest version (append order may differ).
    expected = max(successes, key=lambda item: item[0])[1] if successes else _definition(99, round_no, when)
    assert sorted(v for v, _ in successes) == list(range(2, 2 + len(successes)))
    # Every field of what is sent comes from one and the same request.
    assert (sent["body"], sent["from"], sent["to"]) == (expected.body, expected.sender, list(expected.to))
    # Every updater ran until it lost: the start ended each of them with 400009002.
    assert losers == WORKERS
