"""Campaign reminders (services/reminders.py): a test SMS of the campaign's text to each reminder number,
``minutesBefore`` the scheduled send and ``minutesAfter`` it, each queued once however often the scheduler
looks, and not at all before its moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from smscast.bootstrap import Container
from smscast.db.schema import messages
from smscast.domain.clock import FixedClock
from tests.conftest import Tenant, app_over, new_tenant

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CHECKERS = ["+306948700001", "+306948700002"]


@pytest.fixture
def scheduled(isolated_database_url: str) -> Iterator[tuple[Container, Tenant, FixedClock]]:
    clock = FixedClock(START - timedelta(hours=1))
    with app_over(isolated_database_url, clock) as (container, http):
        tenant = new_tenant(container, http)
        created = tenant.post(
            "/sms/campaign",
            json={
                "body": "Hi [~firstName]",
                "from": "ACME",
                "to": ["+306948700099"],
                "scheduledDate": START.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "fallbackValues": {"firstName": "friend"},
                "reminder": {"minutesBefore": 5, "minutesAfter": 10, "to": CHECKERS},
            },
        )
        assert created.status_code == 200, created.text
        yield container, tenant, clock


def _reminders(container: Container) -> list[tuple[str, str, str | None, str]]:
    query = sa.select(messages.c.to, messages.c.body, messages.c.campaign_id, messages.c.status).where(
        messages.c.label == "reminder"
    )
    with container.db.read() as conn:
        return sorted((row.to, row.body, row.campaign_id, row.status) for row in conn.execute(query))


def test_reminders_go_out_before_and_after_the_send_once_each(
    scheduled: tuple[Container, Tenant, FixedClock],
) -> None:
    container, _, clock = scheduled
    starter = container.starter
    clock.set(START - timedelta(minutes=6))
    assert starter.send_due_reminders() == 0 and _reminders(container) == []

    clock.set(START - timedelta(minutes=5))
    assert starter.send_due_reminders() == 1
    before = [(number, "Hi friend", None, "Queued") for number in CHECKERS]
    assert _reminders(container) == before
    assert starter.send_due_reminders() == 0  # once, however often the scheduler looks
    assert _reminders(container) == before

    clock.set(START + timedelta(minutes=9))
    assert starter.start_due() == 1  # the campaign starts; its "after" reminder is not due yet
    assert starter.send_due_reminders() == 0

    clock.set(START + timedelta(minutes=10))
    assert starter.send_due_reminders() == 1
    assert starter.send_due_reminders() == 0
    assert _reminders(container) == sorted(before * 2)
    # Reminders are messages of their own, sent like any: the dispatcher claims them.
    sent = container.dispatch.claim(100)
    assert sorted(part.to for part in sent if part.campaign_id is None) == sorted(CHECKERS * 2)
