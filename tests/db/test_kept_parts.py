"""Parts kept by the expansion for its process's dispatchers (services/kept_parts.py, docs/adr/0009): written
leased, priced and charged with their chunk; handed to the dispatchers without a claim; after a crash
claimed like any claimed part and never charged twice; released when they go stale or the process stops;
not kept when the balance does not cover their chunk, when quiet hours may hold them, or when there is no
room. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from smscast.bootstrap import Container
from smscast.db.accounts import AccountRepository
from smscast.db.schema import messages, transactions
from smscast.domain.clock import FixedClock
from smscast.services.dispatching import outbound
from smscast.services.kept_parts import KeptParts
from tests.conftest import Tenant, app_over, new_tenant

GR = [f"+3069486100{n:02d}" for n in range(10)]
# 12:00 in Athens: outside quiet hours.
NOON = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def keeping(isolated_database_url: str) -> Iterator[tuple[Container, Tenant, FixedClock]]:
    """A container whose expansion keeps parts for its dispatchers (as `build_engine` wires it), on a
    fixed clock, and a tenant."""
    clock = FixedClock(NOON)
    with app_over(isolated_database_url, clock) as (container, http):
        container.starter.keeper = container.dispatch
        yield container, new_tenant(container, http), clock


def _expand(container: Container, tenant: Tenant, **campaign: object) -> None:
    body = {"body": "Hi", "from": "ACME", "to": GR[:6], **campaign}
    created = tenant.post("/sms/campaign", json=body)
    assert created.status_code == 200, created.text
    container.starter.start_due()
    while container.starter.expand_next():
        pass


def _rows(container: Container) -> dict[str, tuple[str, Decimal | None, int]]:
    """Each part's state (``leased`` for a ``Queued`` part under a lease), price and attempts, by sms id."""
    query = sa.select(
        messages.c.sms_id, messages.c.status, messages.c.lease_until, messages.c.price, messages.c.attempts
    )
    with container.db.read() as conn:
        return {
            str(row.sms_id): ("leased" if row.lease_until else row.status, row.price, row.attempts)
            for row in conn.execute(query)
        }


def _charges(container: Container, account_id: str) -> list[Decimal]:
    with container.db.read() as conn:
        return [
            -Decimal(amount)
            for amount in conn.execute(
                sa.select(transactions.c.amount).where(
                    transactions.c.account_id == account_id, transactions.c.transaction_type == "Charge"
                )
            ).scalars()
        ]


def _price(container: Container) -> Decimal:
    return container.prices.price_list().part_price("GR")


def test_kept_parts_are_written_leased_priced_and_charged_and_sent_without_a_claim(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, _ = keeping
    _expand(container, tenant)
    price = _price(container)
    rows = _rows(container)
    assert sorted(rows.values()) == [("leased", price, 1)] * 6
    assert _charges(container, tenant.account_id) == [price * 6]  # one charge, with the chunk
    assert len(container.dispatch.kept) == 6

    sent = container.dispatch.claim(4)  # from memory, in the order written
    assert [part.to for part in sent] == GR[:4]
    assert all(part.price == price and part.attempts == 1 and part.quoted is None for part in sent)
    assert sent[0].body == "Hi" and sent[0].sender == "ACME" and sent[0].country == "GR"
    rest = container.dispatch.claim(100)
    assert [part.to for part in rest] == GR[4:6]
    assert {part.sms_id for part in sent + rest} == set(rows)
    assert _rows(container) == rows  # taking them wrote nothing
    assert container.dispatch.claim(100) == []  # the rows are leased: no one else may claim them
    assert _charges(container, tenant.account_id) == [price * 6]


def test_a_multi_part_message_is_kept_part_by_part(keeping: tuple[Container, Tenant, FixedClock]) -> None:
    container, tenant, _ = keeping
    long = "x" * 200  # two GSM parts
    _expand(container, tenant, body=long, to=GR[:2])
    parts = container.dispatch.claim(100)
    with container.db.read() as conn:
        stored = {
            str(row.sms_id): (str(row.message_id), row.part, row.parts, row.to)
            for row in conn.execute(
                sa.select(
                    messages.c.sms_id, messages.c.message_id, messages.c.part, messages.c.parts, messages.c.to
                )
            )
        }
    assert {p.sms_id: (p.message_id, p.part, p.parts, p.to) for p in parts} == stored
    assert len(stored) == 4 and all(p.body == long for p in parts)
    payloads = [outbound(p).payload for p in parts if p.to == GR[0]]
    assert len(payloads) == 2 and payloads[0] != payloads[1]
    assert _charges(container, tenant.account_id) == [_price(container) * 4]


def test_a_blacklisted_contact_is_neither_written_nor_kept(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, _ = keeping
    contact = tenant.post("/contacts/my", json={"firstName": "Nick", "mobile": GR[2], "country": "GR"})
    assert contact.status_code == 200, contact.text
    blacklisted = tenant.post("/contacts/my/blacklist/Sms", json=[contact.json()["id"]])
    assert blacklisted.status_code == 200, blacklisted.text
    _expand(container, tenant)
    parts = container.dispatch.claim(100)
    assert sorted(part.to for part in parts) == sorted(GR[:2] + GR[3:6])
    assert {part.sms_id for part in parts} == set(_rows(container))
    assert _charges(container, tenant.account_id) == [_price(container) * 5]


def test_kept_parts_of_a_process_that_died_are_claimed_again_and_not_charged_again(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, clock = keeping
    _expand(container, tenant)
    price = _price(container)
    container.dispatch.kept = KeptParts()  # the process died: what it kept in memory is gone
    assert container.dispatch.claim(100) == []  # their leases still hold
    clock.set(NOON + container.dispatch.lease + timedelta(seconds=1))
    again = container.dispatch.claim(100)
    assert sorted(part.to for part in again) == GR[:6]
    assert all(part.price == price and part.quoted is None and part.attempts == 2 for part in again)
    assert _charges(container, tenant.account_id) == [price * 6]


def test_kept_parts_not_taken_within_half_a_lease_are_released_and_claimed(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, clock = keeping
    _expand(container, tenant)
    price = _price(container)
    clock.set(NOON + container.dispatch.lease / 2 + timedelta(seconds=1))
    claimed = container.dispatch.claim(100)  # released, then claimed from the database: once
    assert sorted(part.to for part in claimed) == GR[:6]
    assert all(part.price == price and part.quoted is None and part.attempts == 2 for part in claimed)
    assert len(container.dispatch.kept) == 0
    assert _charges(container, tenant.account_id) == [price * 6]


def test_stopping_releases_the_kept_parts_priced(keeping: tuple[Container, Tenant, FixedClock]) -> None:
    container, tenant, _ = keeping
    _expand(container, tenant)
    price = _price(container)
    container.dispatch.claim(2)
    container.dispatch.release_kept()
    states = sorted(_rows(container).values())
    assert states == [("Queued", price, 1)] * 4 + [("leased", price, 1)] * 2
    assert len(container.dispatch.kept) == 0
    assert len(container.dispatch.claim(100)) == 4  # anyone's at once; not charged again
    assert _charges(container, tenant.account_id) == [price * 6]


def test_a_chunk_the_balance_does_not_cover_is_claimed_part_by_part(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, clock = keeping
    price = _price(container)
    created = tenant.post("/sms/campaign", json={"body": "Hi", "from": "ACME", "to": GR[:6]})
    assert created.status_code == 200, created.text
    with container.db.write() as conn:  # the balance falls to four parts' worth before the start
        accounts = AccountRepository(conn)
        balance = accounts.get(tenant.account_id, for_update=True)
        assert balance is not None
        accounts.add_transaction(tenant.account_id, "Charge", price * 4 - balance.balance, clock.now())
    charged_before = _charges(container, tenant.account_id)
    container.starter.start_due()
    while container.starter.expand_next():
        pass
    assert sorted(_rows(container).values()) == [("Queued", None, 0)] * 6  # written, not kept
    assert len(container.dispatch.kept) == 0
    sent = container.dispatch.claim(100)
    assert len(sent) == 4
    assert sorted(state for state, _, _ in _rows(container).values()) == ["Unsent"] * 2 + ["leased"] * 4
    assert _charges(container, tenant.account_id) == [*charged_before, price * 4]


def test_parts_quiet_hours_may_hold_are_not_kept(keeping: tuple[Container, Tenant, FixedClock]) -> None:
    container, tenant, _ = keeping
    _expand(container, tenant, respectQuietHours=True)
    assert sorted(_rows(container).values()) == [("Queued", None, 0)] * 6
    assert len(container.dispatch.kept) == 0
    assert len(container.dispatch.claim(100)) == 6  # noon in Athens: the claim sends them


def test_a_chunk_without_room_is_not_kept(keeping: tuple[Container, Tenant, FixedClock]) -> None:
    container, tenant, _ = keeping
    container.dispatch.kept = KeptParts(limit=5)
    _expand(container, tenant)
    assert sorted(_rows(container).values()) == [("Queued", None, 0)] * 6
    assert len(container.dispatch.claim(100)) == 6


def _group(tenant: Tenant, name: str, numbers: list[str]) -> list[str]:
    ids = []
    for number in numbers:
        contact = tenant.post("/contacts/my", json={"firstName": "Ann", "mobile": number})
        assert contact.status_code == 200, contact.text
        ids.append(contact.json()["id"])
    assert tenant.post("/groups/my", json={"name": name}).status_code == 200
    added = tenant.post(f"/groups/my/{name}/contacts", json=ids)
    assert added.status_code == 200, added.text
    return ids


def test_group_members_parts_are_kept_priced_by_country_and_charged(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, _ = keeping
    cy = ["+35799123456", "+35799123457"]  # Cyprus: another country, another price
    _group(tenant, "mixed", GR[:4] + cy)
    _expand(container, tenant, to=[], groups=["mixed"])
    prices = container.prices.price_list()
    gr, cy_price = prices.part_price("GR"), prices.part_price("CY")
    parts = container.dispatch.claim(100)
    assert sorted((part.to, part.country, part.price) for part in parts) == sorted(
        [(n, "GR", gr) for n in GR[:4]] + [(n, "CY", cy_price) for n in cy]
    )
    assert all(part.attempts == 1 and part.body == "Hi" and part.sender == "ACME" for part in parts)
    rows = _rows(container)
    assert {part.sms_id for part in parts} == set(rows)
    assert sorted(rows.values()) == sorted([("leased", gr, 1)] * 4 + [("leased", cy_price, 1)] * 2)
    assert _charges(container, tenant.account_id) == [gr * 4 + cy_price * 2]


def test_group_members_blacklisted_or_already_recipients_are_not_kept(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, _ = keeping
    ids = _group(tenant, "club", GR[:5])
    assert tenant.post("/contacts/my/blacklist/Sms", json=[ids[1]]).status_code == 200
    _expand(container, tenant, to=[GR[0]], groups=["club"])  # GR[0] is a `to` recipient first
    parts = container.dispatch.claim(100)
    assert sorted(part.to for part in parts) == sorted([GR[0], GR[2], GR[3], GR[4]])
    assert {part.sms_id for part in parts} == set(_rows(container))
    price = _price(container)
    assert sorted(_charges(container, tenant.account_id)) == sorted([price, price * 3])  # a chunk each


def test_a_member_whose_contact_stores_no_country_is_sent_once_kept_or_claimed(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    from smscast.db.schema import contacts

    container, tenant, _ = keeping
    ids = _group(tenant, "old", GR[:6])
    with container.db.write() as conn:  # a contact stored before countries were
        conn.execute(contacts.update().where(contacts.c.id == ids[2]).values(country=None))
    _expand(container, tenant, to=[], groups=["old"])
    kept = container.dispatch.claim(100)
    claimed = container.dispatch.claim(100)  # PostgreSQL writes that member's part apart: not kept
    assert sorted(part.to for part in kept + claimed) == GR[:6]
    assert all(part.country == "GR" for part in kept + claimed)
    price = _price(container)
    assert sum(_charges(container, tenant.account_id)) == price * 6
    assert container.dispatch.claim(100) == []


def test_personalised_parts_are_kept_each_with_its_own_text(
    keeping: tuple[Container, Tenant, FixedClock],
) -> None:
    container, tenant, _ = keeping
    long_name = "Maximilian" * 17  # makes that recipient's text two parts long
    for number, name in ((GR[0], "Nick"), (GR[1], long_name)):
        made = tenant.post("/contacts/my", json={"firstName": name, "mobile": number})
        assert made.status_code == 200, made.text
    blocked = tenant.post("/contacts/my", json={"firstName": "Zoe", "mobile": GR[2]})
    assert tenant.post("/contacts/my/blacklist/Sms", json=[blocked.json()["id"]]).status_code == 200
    _expand(container, tenant, body="Hi [~firstName]", to=GR[:4], fallbackValues={"firstName": "you"})
    parts = container.dispatch.claim(100)
    texts = {(part.to, part.part, part.parts): part.body for part in parts}
    assert texts == {
        (GR[0], 1, 1): "Hi Nick",
        (GR[1], 1, 2): f"Hi {long_name}",
        (GR[1], 2, 2): f"Hi {long_name}",
        (GR[3], 1, 1): "Hi you",
    }
    assert {part.sms_id for part in parts} == set(_rows(container))
    price = _price(container)
    assert all(part.price == price and part.attempts == 1 for part in parts)
    assert sorted(_rows(container).values()) == [("leased", price, 1)] * 4
    assert _charges(container, tenant.account_id) == [price * 4]
    payloads = [outbound(part).payload for part in parts if part.to == GR[1]]
    assert len(payloads) == 2 and payloads[0] != payloads[1]
