"""The whole path against the sandbox carrier: create → start → hand over → receipts → Finished, with
tracking, money and campaign states checked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.sandbox import SandboxCarrier
from smscast.db.accounts import AccountRepository
from smscast.engine.runner import EngineSettings
from tests.conftest import Tenant, assert_error, new_tenant
from tests.engine_harness import running_engine, wait_for

FAST = EngineSettings(idle_s=0.02, scheduler_every_s=0.05, maintenance_every_s=0.2)
NUMBERS = [f"+3069485{n:05d}" for n in range(1, 41)]


def _state(tenant: Tenant, tracking_id: str) -> str:
    state: str = tenant.get(f"/campaigns/{tracking_id}").json()["state"]
    return state


def test_campaign_runs_to_finished(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    created = tenant.post(
        "/sms/campaign",
        json={"body": "Hello " + "x" * 200, "from": "ACME", "to": NUMBERS, "campaignName": "Run"},
    ).json()
    tracking_id = created["trackingId"]
    assert created["totalMessages"] == 80
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
        wait_for(lambda: _state(tenant, tracking_id) == "Finished", what="campaign finished")
    details = tenant.get(f"/campaigns/{tracking_id}").json()
    assert details["statuses"]["Delivered"] == 80 and sum(details["statuses"].values()) == 80
    # money: charged exactly the quoted cost, as ledger rows, balance == ledger sum
    balance = Decimal(str(tenant.get("/accounts/me/balance").json()["balance"]))
    assert balance == Decimal("1000") - Decimal(str(created["cost"]))
    with container.db.read() as conn:
        assert AccountRepository(conn).ledger_sum(tenant.account_id) == balance
    # tracking
    page = tenant.get(
        f"/sms/tracking/campaign/{tracking_id}", params={"size": 5, "status": "Delivered"}
    ).json()
    assert page["totalElements"] == 80 and page["numberOfElements"] == 5
    record = page["content"][0]
    assert record["campaignTrackingId"] == tracking_id and record["campaignName"] == "Run"
    assert record["status"]["status"] == "Delivered" and record["parts"] == 2
    assert record["status"]["reason"]["detailedStatus"] == "Delivered"
    assert record["price"] == pytest.approx(0.042) and record["direction"] == "Outbound"
    parts = tenant.get(f"/sms/tracking/single/{record['messageId']}").json()
    assert [p["part"] for p in parts] == [1, 2]
    search = tenant.post("/sms/tracking", json=[{"fieldName": "to", "searchTerm": NUMBERS[0]}]).json()
    assert search["totalElements"] == 2
    # Ids are found by their text on both databases (PostgreSQL stores them as uuid, docs/adr/0008); an id
    # that is not a UUID names nothing there either, instead of failing on the type's syntax.
    by_sms = tenant.post("/sms/tracking", json=[{"fieldName": "smsId", "searchTerm": record["smsId"]}])
    assert [p["smsId"] for p in by_sms.json()["content"]] == [record["smsId"]]
    for field in ("smsId", "messageId"):
        nothing = tenant.post("/sms/tracking", json=[{"fieldName": field, "searchTerm": "not-a-uuid"}])
        assert nothing.status_code == 200 and nothing.json()["totalElements"] == 0
    in_nothing = tenant.post("/sms/tracking", params={"trackingId": "nope"}, json=[])
    assert in_nothing.status_code == 200 and in_nothing.json()["totalElements"] == 0
    assert_error(tenant.get("/sms/tracking/single/not-a-uuid"), 404, "404005000")
    assert_error(tenant.get("/campaigns/not-a-uuid"), 404, "404009001")
    assert_error(tenant.get("/sms/tracking/campaign/not-a-uuid"), 404, "404009001")


def test_single_sms_and_tracking(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant, other_tenant = new_tenant(container, http), new_tenant(container, http)
    sent = tenant.post("/sms", json={"body": "Your code is 1234", "to": NUMBERS[0], "from": "ACME"}).json()
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
        wait_for(
            lambda: (
                tenant.get(f"/sms/tracking/single/{sent['trackingId']}").json()[0]["status"]["status"]
                == "Delivered"
            ),
            what="message delivered",
        )
    assert_error(other_tenant.get(f"/sms/tracking/single/{sent['trackingId']}"), 404, "404005000")


def test_scheduled_campaign_waits_then_runs(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    when = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = tenant.post(
        "/sms/campaign", json={"body": "Later", "from": "ACME", "to": NUMBERS[:3], "scheduledDate": when}
    ).json()
    assert created["state"] == "Scheduled"
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
        assert _state(tenant, created["trackingId"]) == "Scheduled"
        wait_for(
            lambda: _state(tenant, created["trackingId"]) == "Finished", what="scheduled campaign finished"
        )
    assert_error(
        tenant.put(f"/sms/{created['trackingId']}", json={"body": "x", "from": "A", "to": NUMBERS[:1]}),
        400,
        "400009002",
    )


def test_balance_runs_out_mid_campaign(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    poor = new_tenant(container, http, balance="0.5")
    created = poor.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS[:10]}).json()
    assert created["cost"] == pytest.approx(0.42)
    # Another campaign spends the money first.
    poor.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS[20:30]})
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
        wait_for(
            lambda: {c["state"] for c in poor.get("/campaigns").json()["content"]} == {"Finished"},
            timeout=30,
            what=lambda: f"both campaigns finished: {poor.get('/campaigns').json()['content']}",
        )
    campaigns = poor.get("/campaigns").json()["content"]
    delivered = sum(c["statuses"]["Delivered"] for c in campaigns)
    unsent = sum(c["statuses"]["Unsent"] for c in campaigns)
    assert delivered == 11 and unsent == 9  # 0.5 / 0.042 → 11 parts
    balance = poor.get("/accounts/me/balance").json()["balance"]
    assert balance == pytest.approx(0.5 - 11 * 0.042)
    assert balance >= 0


def test_work_queued_by_the_api_wakes_the_engine_of_its_process(
    isolated: tuple[Container, TestClient],
) -> None:
    """The scheduler and the dispatchers poll once an hour here: only the nudges from the API (a campaign to
    send now, a single SMS) and from the expansion (parts written) can get anything sent."""
    container, http = isolated
    tenant = new_tenant(container, http)
    sleepy = EngineSettings(idle_s=3600, scheduler_every_s=3600, maintenance_every_s=0.2)
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), sleepy):
        time.sleep(1.0)  # let the first passes find nothing and go to sleep
        campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": NUMBERS}).json()
        single = tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": "+306948599999"}).json()
        wait_for(
            lambda: (
                tenant.get(f"/campaigns/{campaign['trackingId']}").json()["statuses"].get("Delivered")
                == len(NUMBERS)
            ),
            what="campaign delivered",
        )
        wait_for(
            lambda: (
                tenant.get(f"/sms/tracking/single/{single['trackingId']}").json()[0]["status"]["status"]
                == "Delivered"
            ),
            what="single SMS delivered",
        )
