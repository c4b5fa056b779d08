"""Quiet hours end to end: parts held in the recipient's night, reported, then sent when the window ends."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import build_container
from smscast.carriers.sandbox import SandboxCarrier
from smscast.domain.clock import FixedClock
from smscast.engine.runner import EngineSettings
from smscast.settings import Settings
from tests.conftest import new_tenant
from tests.engine_harness import running_engine, wait_for

FAST = EngineSettings(idle_s=0.02, scheduler_every_s=0.05, maintenance_every_s=0.2)


def test_quiet_hours_hold_report_and_release(isolated_database_url: str) -> None:
    # 23:30 in Athens (UTC+2 in winter): inside the 23:00-08:00 window; 22:30 in Berlin: outside it.
    clock = FixedClock(datetime(2026, 12, 1, 21, 30, tzinfo=UTC))
    container = build_container(Settings(database_url=isolated_database_url), clock=clock)
    try:
        with TestClient(create_app(container)) as http:
            tenant = new_tenant(container, http)
            greek = [f"+3069485{n:05d}" for n in range(1, 4)]
            german = ["+4915112345678"]
            created = tenant.post(
                "/sms/campaign",
                json={"body": "Hi", "from": "ACME", "to": greek + german, "respectQuietHours": True},
            ).json()
            path = f"/campaigns/{created['trackingId']}"
            with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
                wait_for(lambda: tenant.get(path).json()["statuses"]["Delivered"] == 1, what="DE delivered")
                wait_for(lambda: tenant.get(path).json().get("quietHoursReport") == {"GR": 3}, what="GR held")
                details = tenant.get(path).json()
                assert details["statuses"]["Queued"] == 3 and details["state"] == "Running"
                clock.set(datetime(2026, 12, 2, 6, 1, tzinfo=UTC))  # 08:01 in Athens
                # The token from 23:30 has expired by now: sign in again.
                tenant.token = container.accounts.issue_token(
                    tenant.application_id, tenant.application_secret, None
                ).access_token
                wait_for(lambda: tenant.get(path).json()["state"] == "Finished", what="campaign finished")
            details = tenant.get(path).json()
            assert details["statuses"]["Delivered"] == 4
            assert details["quietHoursReport"] == {"GR": 3}
    finally:
        container.close()
