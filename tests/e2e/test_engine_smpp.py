"""Delivery proven against a real, independent SMPP peer: the node-smpp simulator.

What the SMSC received is checked (texts, concatenation, coding, flash), receipts are applied, and
throttling and a dropped connection are recovered with nothing lost."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.carriers.smpp import SmppCarrier
from smscast.engine.runner import EngineSettings
from tests.conftest import Tenant, new_tenant
from tests.engine_harness import running_engine, wait_for
from tests.fixtures.smsc_sim import SmscSimulator, smsc_simulator

pytestmark = pytest.mark.smsc
FAST = EngineSettings(idle_s=0.02, scheduler_every_s=0.05, maintenance_every_s=0.2)


@contextmanager
def smsc(**options: Any) -> Iterator[SmscSimulator]:
    if shutil.which("node") is None:
        pytest.fail("node is required: the SMSC simulator is the real peer these tests deliver to")
    with smsc_simulator(**options) as sim:
        yield sim


def carrier_for(sim: SmscSimulator, **query: str) -> SmppCarrier:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return SmppCarrier.from_url(
        f"smpp://{sim.system_id}:{sim.password}@{sim.host}:{sim.port}?window=50&enquire_link_s=5{extra}"
    )


def statuses(tenant: Tenant, tracking_id: str) -> dict[str, int]:
    counts: dict[str, int] = tenant.get(f"/campaigns/{tracking_id}").json()["statuses"]
    return counts


def state(tenant: Tenant, tracking_id: str) -> str:
    value: str = tenant.get(f"/campaigns/{tracking_id}").json()["state"]
    return value


def test_texts_coding_concatenation_and_flash(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    ann = tenant.post("/contacts/my", json={"mobile": "+306948530001", "firstName": "Ann"}).json()["id"]
    long_body = "Dear [~firstName], " + "our autumn offer {with braces} costs 10€ " * 5
    campaign = tenant.post(
        "/sms/campaign",
        json={
            "body": long_body,
            "from": "ACME",
            "contacts": [ann],
            "to": ["+306948530002"],
            "fallbackValues": {"firstName": "customer"},
        },
    ).json()
    greek = tenant.post(
        "/sms", json={"body": "Καλημέρα σας 😀", "to": "+306948530003", "from": "30697000"}
    ).json()
    flash = tenant.post(
        "/sms", json={"body": "ALERT", "to": "+306948530004", "from": "ACME", "flash": True}
    ).json()
    with smsc(receipt_delay_ms=20) as sim, running_engine(container, carrier_for(sim), FAST):
        wait_for(lambda: state(tenant, campaign["trackingId"]) == "Finished", what="campaign finished")
        for sent in (greek, flash):
            wait_for(
                lambda sent=sent: (
                    tenant.get(f"/sms/tracking/single/{sent['trackingId']}").json()[0]["status"]["status"]
                    == "Delivered"
                ),
                what="single message delivered",
            )
        messages = {m["destination_addr"]: m for m in sim.messages()}
        records = sim.records()
    ann_text = long_body.replace("[~firstName]", "Ann")
    other_text = long_body.replace("[~firstName]", "customer")
    assert messages["306948530001"]["text"] == ann_text
    assert messages["306948530002"]["text"] == other_text
    assert messages["306948530001"]["concat"] == "udh" and messages["306948530001"]["parts"] == 2
    assert messages["306948530001"]["data_coding"] == 0
    assert (
        messages["306948530003"]["text"] == "Καλημέρα σας 😀" and messages["306948530003"]["data_coding"] == 8
    )
    assert messages["306948530004"]["data_coding"] == 0x10
    by_destination = Counter(r["destination_addr"] for r in records)
    assert by_destination == {"306948530001": 2, "306948530002": 2, "306948530003": 1, "306948530004": 1}
    alnum = next(r for r in records if r["destination_addr"] == "306948530001")
    assert (alnum["source_addr"], alnum["source_addr_ton"]) == ("ACME", 5)
    numeric = next(r for r in records if r["destination_addr"] == "306948530003")
    assert (numeric["source_addr"], numeric["source_addr_ton"]) == ("30697000", 1)
    assert all(r["registered_delivery"] == 1 for r in records)
    assert statuses(tenant, campaign["trackingId"])["Delivered"] == 4


def test_throttling_and_a_dropped_connection_lose_nothing(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    numbers = [f"+3069485{n:05d}" for n in range(1, 301)]
    campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers}).json()
    with (
        smsc(throttle_every=7, drop_after=120, receipt_delay_ms=10) as sim,
        running_engine(container, carrier_for(sim), FAST),
    ):
        wait_for(lambda: state(tenant, campaign["trackingId"]) == "Finished", timeout=60, what="finished")
        records = sim.records()
    counts = Counter(r["destination_addr"] for r in records)
    assert set(counts) == {n[1:] for n in numbers}  # every recipient reached
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= 50  # bounded by the window in flight when the connection dropped
    assert statuses(tenant, campaign["trackingId"])["Delivered"] == 300
    # charged once per part, whatever was resent
    assert tenant.get("/accounts/me/balance").json()["balance"] == pytest.approx(1000 - 300 * 0.042)


def test_missing_receipts_leave_parts_sent(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    numbers = [f"+3069485{n:05d}" for n in range(1, 21)]
    campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers}).json()
    with (
        smsc(no_receipt_every=4, receipt_stat="UNDELIV") as sim,
        running_engine(container, carrier_for(sim), FAST),
    ):
        wait_for(
            lambda: statuses(tenant, campaign["trackingId"])["Undelivered"] == 15, what="receipts applied"
        )
        wait_for(lambda: state(tenant, campaign["trackingId"]) == "Sent", what="campaign Sent")
    counts = statuses(tenant, campaign["trackingId"])
    assert counts["Sent"] == 5 and counts["Undelivered"] == 15
    detailed = tenant.get(
        f"/sms/tracking/campaign/{campaign['trackingId']}", params={"status": "Undelivered", "size": 1}
    ).json()["content"][0]["status"]["reason"]["detailedStatus"]
    assert detailed == "Undelivered"


def test_receipt_timeout_ends_parts_without_receipts(isolated_database_url: str) -> None:
    from smscast.api.app import create_app
    from smscast.bootstrap import build_container
    from smscast.settings import Settings

    container = build_container(Settings(database_url=isolated_database_url, receipt_timeout_s=1.0))
    try:
        with TestClient(create_app(container)) as http:
            tenant = new_tenant(container, http)
            numbers = [f"+3069485{n:05d}" for n in range(1, 9)]
            campaign = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers}).json()
            with smsc(no_receipt_every=2) as sim, running_engine(container, carrier_for(sim), FAST):
                wait_for(
                    lambda: state(tenant, campaign["trackingId"]) == "Finished", what="campaign Finished"
                )
            counts = statuses(tenant, campaign["trackingId"])
            assert counts["Delivered"] == 4 and counts["Undelivered"] == 4
            page = tenant.get(
                f"/sms/tracking/campaign/{campaign['trackingId']}", params={"status": "Undelivered"}
            ).json()
            assert {p["status"]["reason"]["detailedStatus"] for p in page["content"]} == {"Unknown Status"}
    finally:
        container.close()
