"""The claim charges each part once, at its country's price: the claim's UPDATE itself quotes the price of
an unpriced part (one row version instead of two), and a part the claim does not send
— held for quiet hours, expired, or left ``Unsent`` by the balance — gives the quote back. A part priced on
an earlier claim keeps its price and is not charged again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.schema import messages, transactions
from smscast.domain.clock import FixedClock
from tests.conftest import app_over, new_tenant

GR = [f"+3069485100{n:02d}" for n in range(10)]


def _rows(container: Container) -> dict[str, tuple[str, Decimal | None, bool]]:
    """Each part's status (``leased`` for a ``Queued`` part under a lease), price and held flag."""
    with container.db.read() as conn:
        return {
            row.to: (
                "leased" if row.status == "Queued" and row.lease_until else row.status,
                row.price,
                row.held,
            )
            for row in conn.execute(
                sa.select(
                    messages.c.to,
                    messages.c.status,
                    messages.c.lease_until,
                    messages.c.price,
                    messages.c.held,
                )
            )
        }


def _charged(container: Container, account_id: str) -> Decimal:
    with container.db.read() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(transactions.c.amount), 0)).where(
                transactions.c.account_id == account_id, transactions.c.transaction_type == "Charge"
            )
        ).scalar_one()
    return -Decimal(total)


def test_each_part_is_charged_once_and_unsent_parts_keep_no_price(
    isolated: tuple[Container, TestClient],
) -> None:
    container, http = isolated
    price = container.prices.price_list().part_price("GR")
    tenant = new_tenant(container, http, balance=str(price * 4))  # four parts' worth
    for numbers in (GR[:3], GR[3:6]):  # each affordable alone, not both
        created = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers})
        assert created.status_code == 200, created.text
    container.starter.start_due()
    while container.starter.expand_next():
        pass

    sent = container.dispatch.claim(100)
    assert len(sent) == 4 and all(part.price == price for part in sent)
    assert all(part.quoted == price for part in sent)  # the claim itself priced them
    rows = _rows(container)
    assert sorted(status for status, _, _ in rows.values()) == ["Unsent"] * 2 + ["leased"] * 4
    assert all(p == price for status, p, _ in rows.values() if status == "leased")
    assert all(p is None for status, p, _ in rows.values() if status == "Unsent")
    assert _charged(container, tenant.account_id) == price * 4

    # While the leases last, no one else may claim the parts.
    assert container.dispatch.claim(100) == []
    # The dispatcher dies: the leases run out and the parts are claimed again — not charged again.
    with container.db.write() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.lease_until.is_not(None))
            .values(lease_until=container.clock.now() - timedelta(seconds=1))
        )
    again = container.dispatch.claim(100)
    assert sorted(part.sms_id for part in again) == sorted(part.sms_id for part in sent)
    assert all(part.price == price and part.quoted is None for part in again)
    assert _charged(container, tenant.account_id) == price * 4
    assert container.accounts.account(tenant.account_id).balance == 0


def test_held_and_expired_parts_give_their_quote_back(isolated_database_url: str) -> None:
    from smscast.api.app import create_app
    from smscast.bootstrap import build_container
    from smscast.settings import Settings

    # 23:30 in Athens: inside the default 23:00-08:00 quiet hours.
    clock = FixedClock(datetime(2026, 12, 1, 21, 30, tzinfo=UTC))
    container = build_container(Settings(database_url=isolated_database_url), clock=clock)
    try:
        with TestClient(create_app(container)) as http:
            tenant = new_tenant(container, http)
            body = {"body": "Hi", "from": "ACME", "to": GR[:3], "respectQuietHours": True}
            assert tenant.post("/sms/campaign", json=body).status_code == 200
            short = {"body": "Hi", "from": "ACME", "to": GR[5], "ttl": 5}
            assert tenant.post("/sms", json=short).status_code == 200
            container.starter.start_due()
            while container.starter.expand_next():
                pass
            clock.set(datetime(2026, 12, 1, 21, 40, tzinfo=UTC))  # the single SMS's 5-minute ttl is over
            assert container.dispatch.claim(100) == []
            rows = _rows(container)
            assert {to: (status, p, held) for to, (status, p, held) in rows.items()} == {
                **{to: ("Queued", None, True) for to in GR[:3]},
                GR[5]: ("Undelivered", None, False),
            }
            assert _charged(container, tenant.account_id) == 0

            clock.set(datetime(2026, 12, 2, 6, 1, tzinfo=UTC))  # 08:01 in Athens
            sent = container.dispatch.claim(100)
            price = container.prices.price_list().part_price("GR")
            assert len(sent) == 3 and all(part.price == price for part in sent)
            assert all(p == price for to, (_, p, _) in _rows(container).items() if to in GR[:3])
            assert _charged(container, tenant.account_id) == price * 3
    finally:
        container.close()


def test_a_part_without_any_price_waits_for_one_uncharged(isolated_database_url: str) -> None:
    """A part whose country has no price (nor ``ZZ``) is not sent, charged or ended: it waits
    ``UNPRICED_PAUSE`` and goes once a price table with its country is loaded."""
    from smscast.db.schema import prices
    from smscast.services.dispatching import UNPRICED_PAUSE

    clock = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    with app_over(isolated_database_url, clock) as (container, http):
        tenant = new_tenant(container, http)
        assert tenant.post("/sms", json={"body": "Hi", "from": "ACME", "to": GR[0]}).status_code == 200
        with container.db.write() as conn:  # the price list loses Greece and the ZZ fallback
            conn.execute(prices.delete().where(prices.c.iso.in_(["GR", "ZZ"])))
        container.dispatch.settings = replace(container.dispatch.settings, price_refresh=timedelta(0))
        assert container.dispatch.claim(100) == []
        assert _rows(container) == {GR[0]: ("Queued", None, False)}
        assert _charged(container, tenant.account_id) == 0

        container.prices.load("mcc,mnc,iso,country,network,price\n202,000,GR,Greece,All networks,0.04\n")
        clock.set(clock.now() + UNPRICED_PAUSE - timedelta(seconds=1))
        assert container.dispatch.claim(100) == []  # not due again yet
        clock.set(clock.now() + timedelta(seconds=2))
        sent = container.dispatch.claim(100)
        assert [part.to for part in sent] == [GR[0]] and sent[0].price == Decimal("0.04")
        assert _charged(container, tenant.account_id) == Decimal("0.04")


def test_campaign_texts_are_read_once_and_stay_each_campaigns_own(
    isolated: tuple[Container, TestClient],
) -> None:
    """Parts of a campaign store no text (docs/adr/0004); the dispatcher keeps the texts it has read across
    claims, and every part still gets its own campaign's. The charge reuses the balance it locked."""
    container, http = isolated
    tenant = new_tenant(container, http, balance="1000")
    for body, numbers in (("First text", GR[:4]), ("Second text", GR[4:8])):
        created = tenant.post("/sms/campaign", json={"body": body, "from": "ACME", "to": numbers})
        assert created.status_code == 200, created.text
    container.starter.start_due()
    while container.starter.expand_next():
        pass

    first = container.dispatch.claim(3)
    second = container.dispatch.claim(100)
    texts = {part.to: part.body for part in [*first, *second]}
    assert texts == {**dict.fromkeys(GR[:4], "First text"), **dict.fromkeys(GR[4:8], "Second text")}
    price = container.prices.price_list().part_price("GR")
    assert _charged(container, tenant.account_id) == price * 8
    with container.db.read() as conn:
        rows = conn.execute(
            sa.select(transactions.c.balance_before, transactions.c.balance_after, transactions.c.amount)
            .where(
                transactions.c.account_id == tenant.account_id,
                transactions.c.transaction_type == "Charge",
            )
            .order_by(transactions.c.date)
        ).all()
    assert [(r.balance_before + r.amount) for r in rows] == [r.balance_after for r in rows]
    assert rows[0].balance_before == Decimal("1000") and rows[-1].balance_after == Decimal("1000") - price * 8


def test_parts_whose_country_lost_its_price_do_not_hold_up_the_others(
    isolated: tuple[Container, TestClient],
) -> None:
    """A price table loaded after a campaign was accepted may have no price for some of its parts (no row
    for their country and no ``ZZ``): the parts queued behind them are still sent. (The claim used to fail
    on them, on every try, and took every part claimed with them along: nothing was sent any more.)"""
    container, http = isolated
    tenant = new_tenant(container, http)
    germany = "+4915112345678"
    for numbers in (GR[:3], [germany], GR[3:5]):
        created = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": numbers})
        assert created.status_code == 200, created.text
    container.starter.start_due()
    while container.starter.expand_next():
        pass
    container.prices.load("mcc,mnc,iso,country,network,price\n262,000,DE,Germany,All networks,0.05\n")

    sent = container.dispatch.claim(100)
    assert sorted(part.to for part in sent) == [germany]
    assert sent[0].price == Decimal("0.05")
    rows = _rows(container)
    assert {to: (status, p) for to, (status, p, _) in rows.items()} == {
        **{to: ("Queued", None) for to in GR[:5]},  # waiting for a price
        germany: ("leased", Decimal("0.05")),
    }
    assert _charged(container, tenant.account_id) == Decimal("0.05")
    assert container.dispatch.claim(100) == []
