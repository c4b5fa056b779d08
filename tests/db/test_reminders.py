"""Campaign reminders (services/reminders.py): a test SMS of the campaign's text to each reminder number,
``minutesBefore`` the scheduled send and ``minutesAfter`` it, each queued once however often the scheduler
looks, and not at all before its moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from smscast.bootstrap import Container
from smscast.db.campaigns import CampaignEngineRepository
from smscast.db.schema import campaigns, messages
from smscast.domain.clock import FixedClock
from tests.conftest import Tenant, app_over, new_tenant

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CHECKERS = ["+306948700001", "+306948700002"]


@pytest.fixture
def scheduled(isolated_database_url: str) -> Iterator[tuple[Container, Tenant, FixedClock]]:
    clock = FixedClock(START - timedelta(hours=1))
    with app_over(isolated_database_url, clock) as (container, http):
        tenant = new_tenant(container, http)
        _schedule(
            tenant,
            START,
            {"minutesBefore": 5, "minutesAfter": 10, "to": CHECKERS},
            body="Hi [~firstName]",
            fallbackValues={"firstName": "friend"},
        )
        yield container, tenant, clock


def _schedule(tenant: Tenant, start: datetime, reminder: dict[str, object], **fields: object) -> None:
    """A campaign to one number scheduled at ``start`` with ``reminder`` (and ``fields``)."""
    created = tenant.post(
        "/sms/campaign",
        json={
            "body": "Hi",
            "from": "ACME",
            "to": ["+306948700099"],
            "scheduledDate": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "reminder": reminder,
            **fields,
        },
    )
    assert created.status_code == 200, created.text


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


def test_sent_reminders_leave_their_campaigns_out_and_every_due_one_goes_out(
    isolated_database_url: str,
) -> None:
    """A campaign with a reminder before the send and none after is not a candidate once it is sent: with
    more such campaigns than the scheduler reads at a time (50), a later campaign's reminder still goes out,
    and a tick with nothing due reads no campaign at all."""
    clock = FixedClock(START - timedelta(hours=1))
    with app_over(isolated_database_url, clock) as (container, http):
        tenant = new_tenant(container, http)

        before_only = {"minutesBefore": 5, "to": CHECKERS[:1]}
        for i in range(60):
            _schedule(tenant, START, before_only, campaignName=f"early {i}")
        _schedule(tenant, START + timedelta(minutes=30), before_only, campaignName="late")
        starter = container.starter
        clock.set(START - timedelta(minutes=5))
        assert starter.send_due_reminders() == 50  # the earliest due first, 50 a tick
        assert starter.send_due_reminders() == 10
        clock.set(START + timedelta(minutes=25))
        assert starter.send_due_reminders() == 1  # the late campaign's, behind 60 sent ones
        with container.db.read() as conn:
            assert CampaignEngineRepository(conn).due_reminders(clock.now()) == []
        assert len(_reminders(container)) == 61


def test_reminders_of_campaigns_written_by_the_previous_version_are_found(
    scheduled: tuple[Container, Tenant, FixedClock],
) -> None:
    """A process of the version before migration 0009 (a rolling upgrade) writes no due moments: the first
    scheduler pass of this version stores them from the definition, and the reminders go out."""
    container, _, clock = scheduled
    with container.db.write() as conn:
        conn.execute(campaigns.update().values(reminder_before_due=None, reminder_after_due=None))
    starter = container.starter
    clock.set(START - timedelta(minutes=5))
    assert starter.send_due_reminders() == 1
    with container.db.read() as conn:
        moments = conn.execute(
            sa.select(campaigns.c.reminder_before_due, campaigns.c.reminder_after_due)
        ).one()
    assert tuple(moments) == (START - timedelta(minutes=5), START + timedelta(minutes=10))


def test_a_finished_campaign_of_the_previous_version_still_sends_its_reminders(
    scheduled: tuple[Container, Tenant, FixedClock],
) -> None:
    """A campaign of the previous version that finished before its "after" reminder was due still gets its
    moments stored and its reminders sent, as any finished campaign does."""
    container, _, clock = scheduled
    with container.db.write() as conn:
        conn.execute(
            campaigns.update().values(state="Finished", reminder_before_due=None, reminder_after_due=None)
        )
    clock.set(START + timedelta(minutes=10))
    assert container.starter.send_due_reminders() == 2  # the one before the send and the one after
