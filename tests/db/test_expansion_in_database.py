"""The in-database expansion (``db.expansion``: group members' parts written by ``INSERT … SELECT``) gives
exactly the recipients and rows of the expansion built in Python: ``to`` ∪ contacts ∪ groups (virtual ones
included), a number once, a member of several groups in the first, blacklisted (``Sms``) members left
out, a contact without a stored country placed from its number, one row per part; and an interrupted
in-database expansion resumes from its checkpoint with no part written twice and none skipped."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.campaigns import CampaignEngineRepository
from smscast.db.expansion import GroupPartInserter, part_ids
from smscast.db.messages import PART_BODY
from smscast.db.schema import contacts, messages
from smscast.services.campaign_expansion import TimeOrderedIds
from smscast.services.campaign_start import CampaignStarter
from tests.conftest import Tenant, new_tenant

SHORT = "Autumn offer: 20% off until Sunday."
LONG = "Autumn offer: " + "twenty percent off everything " * 6  # 2 parts (GSM 7-bit, > 160 characters)
US = "+12015550123"
STRANGER = "+306948599999"  # no contact has it


def mobile(i: int) -> str:
    return f"+30694854{i:04d}"


def _post(tenant: Tenant, path: str, body: Any) -> Any:
    response = tenant.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _address_book(container: Container, tenant: Tenant) -> list[str]:
    """20 contacts: ``a`` holds 0–11, ``b`` 6–17 (overlap 6–11), 18 and 19 are in no group (NotListed);
    3, 8 and 14 are blacklisted for Sms, 4 for Voice only; 7 and 16 store no country."""
    ids = [
        _post(tenant, "/contacts/my", {"mobile": mobile(i), "firstName": f"N{i}"})["id"] for i in range(20)
    ]
    for name, members in (("a", ids[0:12]), ("b", ids[6:18])):
        _post(tenant, "/groups/my", {"name": name})
        _post(tenant, f"/groups/my/{quote(name)}/contacts", members)
    _post(tenant, "/contacts/my/blacklist/Sms", [ids[3], ids[8], ids[14]])
    _post(tenant, "/contacts/my/blacklist/Voice", [ids[4]])
    with container.db.write() as conn:
        conn.execute(contacts.update().where(contacts.c.id.in_([ids[7], ids[16]])).values(country=None))
    return ids


def _expand(container: Container, tenant: Tenant, starter: CampaignStarter, **definition: Any) -> str:
    created = _post(tenant, "/sms/campaign", {"from": "ACME", "to": [], **definition})
    assert starter.expand_next() == created["trackingId"]
    return str(created["trackingId"])


def _rows(container: Container, tracking_id: str) -> list[Any]:
    with container.db.read() as conn:
        return list(
            conn.execute(
                sa.select(
                    messages.c.sms_id,
                    messages.c.message_id,
                    messages.c.to,
                    messages.c.country,
                    messages.c.groups,
                    messages.c.part,
                    messages.c.parts,
                    messages.c.status,
                    messages.c.sender,
                    PART_BODY,
                ).where(messages.c.campaign_id == tracking_id)
            )
        )


def _content(rows: list[Any]) -> Counter[tuple[Any, ...]]:
    """The rows without their ids (these differ from one expansion to the next)."""
    return Counter((r.to, r.country, r.groups, r.part, r.parts, r.status, r.sender, r.body) for r in rows)


def _check_ids(rows: list[Any]) -> None:
    assert len({r.sms_id for r in rows}) == len(rows)
    assert all(uuid.UUID(r.sms_id).version == 7 and uuid.UUID(r.message_id).version == 7 for r in rows)
    per_message: dict[str, set[str]] = {}
    for r in rows:
        per_message.setdefault(r.message_id, set()).add(r.to)
    assert all(len(numbers) == 1 for numbers in per_message.values())  # a message is one recipient's
    assert len(per_message) == len({r.to for r in rows})  # and a recipient has one message


def _reach(direct: list[str], **groups: list[int]) -> dict[str, str | None]:
    """number → its parts' ``groups`` value: ``direct`` numbers have none, then each group's members."""
    out: dict[str, str | None] = dict.fromkeys(direct)
    for name, members in groups.items():
        out.update((mobile(i), f'["{name}"]') for i in members)
    return out


# (definition, the recipients by hand) over `_address_book`; "15" stands for [contact 15, contact 0].
DEFINITIONS: dict[str, tuple[dict[str, Any], dict[str, str | None]]] = {
    "to and two overlapping groups": (
        {"to": [mobile(1), mobile(8), STRANGER, US], "groups": ["b", "a"]},
        _reach([mobile(1), STRANGER, US], b=[6, 7, 9, 10, 11, 12, 13, 15, 16, 17], a=[0, 2, 4, 5]),
    ),
    "contacts, then NotListed": (
        {"contacts": "15", "groups": ["NotListed", "b"]},
        _reach([mobile(15), mobile(0)], NotListed=[18, 19], b=[6, 7, 9, 10, 11, 12, 13, 16, 17]),
    ),
    "a group, then All": (
        {"to": [mobile(19)], "groups": ["a", "All"]},
        _reach([mobile(19)], a=[0, 1, 2, 4, 5, 6, 7, 9, 10, 11], All=[12, 13, 15, 16, 17, 18]),
    ),
    "All alone": ({"groups": ["All"]}, _reach([], All=[i for i in range(20) if i not in (3, 8, 14)])),
    "to repeated and among contacts": (
        {"to": [mobile(1), US, mobile(1), mobile(15), mobile(3)], "contacts": "15", "groups": ["a"]},
        _reach([mobile(1), US, mobile(15), mobile(0)], a=[2, 4, 5, 6, 7, 9, 10, 11]),
    ),
}


@pytest.mark.parametrize("body", [SHORT, LONG], ids=["one part", "two parts"])
@pytest.mark.parametrize("case", list(DEFINITIONS))
def test_database_writes_the_rows_python_would(
    isolated: tuple[Container, TestClient], case: str, body: str
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    ids = _address_book(container, tenant)
    definition, reach = DEFINITIONS[case]
    definition = dict(definition, body=body)
    if definition.get("contacts") == "15":
        definition["contacts"] = [ids[15], ids[0]]
    in_python = CampaignStarter(container.db, container.clock, write_batch=4, in_database=False)
    in_database = CampaignStarter(container.db, container.clock, write_batch=4, group_chunk=3)

    expected = _rows(container, _expand(container, tenant, in_python, **definition))
    actual = _rows(container, _expand(container, tenant, in_database, **definition))

    assert _content(actual) == _content(expected)
    _check_ids(actual)
    assert {r.to: r.groups for r in actual} == reach
    assert {r.country for r in actual} <= {"GR", "US"}  # 7 and 16, which store none, placed by their number
    assert Counter(r.to for r in actual) == dict.fromkeys(reach, 1 if body == SHORT else 2)


def test_interrupted_expansion_in_database_resumes_from_its_checkpoint(
    isolated: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    _address_book(container, tenant)
    definition = {"body": LONG, "to": [mobile(1), STRANGER], "groups": ["b", "a", "All"]}
    in_python = CampaignStarter(container.db, container.clock, in_database=False)
    expected = _content(_rows(container, _expand(container, tenant, in_python, **definition)))

    created = _post(tenant, "/sms/campaign", {"from": "ACME", **definition})
    starter = CampaignStarter(container.db, container.clock, write_batch=1, group_chunk=3)
    now = container.clock.now()
    with container.db.write() as conn:
        row = CampaignEngineRepository(conn).claim_expansion(now, now + timedelta(minutes=2))
    assert row is not None and row.tracking_id == created["trackingId"]

    original = GroupPartInserter.insert
    calls = 0

    def crash_on_fourth_chunk(self: GroupPartInserter, *args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("worker died")
        return original(self, *args)

    monkeypatch.setattr(GroupPartInserter, "insert", crash_on_fourth_chunk)
    with pytest.raises(RuntimeError, match="worker died"):
        starter._expand(row)
    written = _rows(container, row.tracking_id)
    assert 0 < len(written) < sum(expected.values())  # the direct numbers and three chunks, committed

    monkeypatch.setattr(GroupPartInserter, "insert", original)
    recipients = starter._expand(row)
    rows = _rows(container, row.tracking_id)
    assert _content(rows) == expected  # each recipient's parts exactly once
    _check_ids(rows)
    assert recipients == len({r.to for r in rows})


def test_ids_near_the_end_of_the_counter_stay_uuids(
    isolated: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database writes the counter as 8 hex digits past 2³¹ (no sign, no 9th digit); a reservation that
    would pass 2³² starts a fresh prefix."""
    container, http = isolated
    tenant = new_tenant(container, http)
    _address_book(container, tenant)
    original = TimeOrderedIds._restart

    def near_the_end(self: TimeOrderedIds) -> None:
        original(self)
        self._counter = 0x100000000 - 4 * 9  # room for 4 chunks of 3 members × (2 parts + 1)

    monkeypatch.setattr(TimeOrderedIds, "_restart", near_the_end)
    starter = CampaignStarter(container.db, container.clock, group_chunk=3)
    rows = _rows(container, _expand(container, tenant, starter, body=LONG, groups=["All"]))
    _check_ids(rows)
    assert len(rows) == 2 * 17
    assert any(r.sms_id[-8:].startswith("fffffff") for r in rows)
    assert len({r.sms_id[:-8] for r in rows}) == 2  # the fifth chunk took a fresh prefix


def test_a_reservation_never_passes_the_counter_end() -> None:
    ids = TimeOrderedIds()
    prefix, first = ids.reserve(10)
    assert first == 0 and ids.take() == f"{prefix}0000000a"
    ids._counter = 0x100000000 - 5
    again, first = ids.reserve(6)
    assert again != prefix and first == 0
    assert part_ids(prefix, 0xFFFFFFFD, 1, 2) == (
        f"{prefix}fffffffd",
        [f"{prefix}fffffffe", f"{prefix}ffffffff"],
    )
