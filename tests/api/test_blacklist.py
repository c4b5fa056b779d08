"""The per-service blacklist: ``/contacts/my/blacklist/{service}`` and ``…/groups`` (api.md §7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant, assert_error


def mobile(i: int) -> str:
    return f"+30694853{i:04d}"


def add(tenant: Tenant, i: int) -> str:
    response = tenant.post("/contacts/my", json={"mobile": mobile(i)})
    assert response.status_code == 200, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def blacklisted(tenant: Tenant, service: str = "Sms") -> list[str]:
    response = tenant.get(f"/contacts/my/blacklist/{service}")
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


@pytest.mark.parametrize("form", ["strings", "objects"])
def test_add_list_remove(tenant: Tenant, form: str) -> None:
    ids = sorted(add(tenant, i) for i in range(3))

    def body(wanted: list[str]) -> list[Any]:
        return list(wanted) if form == "strings" else [{"id": i} for i in wanted]

    assert tenant.post("/contacts/my/blacklist/Sms", json=body(ids[:2])).json() == {"updated": 2}
    # already blacklisted ones are not counted again
    assert tenant.post("/contacts/my/blacklist/Sms", json=body(ids[1:])).json() == {"updated": 1}
    listed = tenant.get("/contacts/my/blacklist/Sms").json()
    assert [c["id"] for c in listed] == ids
    assert all(c["blacklistedServices"] == ["Sms"] for c in listed)
    assert blacklisted(tenant, "Voice") == []
    assert tenant.post("/contacts/my/blacklist/Voice", json=body(ids[:1])).json() == {"updated": 1}
    assert tenant.get(f"/contacts/my/{ids[0]}").json()["blacklistedServices"] == ["Sms", "Voice"]
    assert tenant.delete("/contacts/my/blacklist/Sms", json=body([ids[0], ids[1]])).json() == {"updated": 2}
    assert tenant.delete("/contacts/my/blacklist/Sms", json=body([ids[0]])).json() == {"updated": 0}
    assert blacklisted(tenant) == [ids[2]]
    assert blacklisted(tenant, "Voice") == [ids[0]]


@pytest.mark.parametrize("service", ["sms", "SMS", "Email", "x"])
def test_unknown_service_is_400(tenant: Tenant, service: str) -> None:
    cid = add(tenant, 1)
    body = assert_error(tenant.post(f"/contacts/my/blacklist/{service}", json=[cid]), 400, "400000000")
    assert "service" in body["properties"]
    assert_error(tenant.get(f"/contacts/my/blacklist/{service}"), 400, "400000000")
    assert_error(tenant.delete(f"/contacts/my/blacklist/{service}", json=[cid]), 400, "400000000")
    assert_error(tenant.delete(f"/contacts/my/blacklist/{service}/groups", json=["All"]), 400, "400000000")
    assert tenant.get(f"/contacts/my/{cid}").json()["blacklistedServices"] == []


def test_unknown_contact_is_404_and_nothing_changes(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    assert_error(tenant.post("/contacts/my/blacklist/Sms", json=[cid, "0" * 24]), 404, "404002001")
    assert blacklisted(tenant) == []
    tenant.post("/contacts/my/blacklist/Sms", json=[cid])
    assert_error(tenant.delete("/contacts/my/blacklist/Sms", json=[cid, "0" * 24]), 404, "404002001")
    assert blacklisted(tenant) == [cid]


def test_loose_bodies(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    assert tenant.post("/contacts/my/blacklist/Sms").json() == {"updated": 0}
    assert tenant.post("/contacts/my/blacklist/Sms", json={"contacts": [cid]}).json() == {"updated": 1}
    assert tenant.delete("/contacts/my/blacklist/Sms", json={}).json() == {"updated": 0}
    assert tenant.delete("/contacts/my/blacklist/Sms").json() == {"updated": 0}
    assert blacklisted(tenant) == [cid]
    assert_error(tenant.post("/contacts/my/blacklist/Sms", json=[[cid]]), 400, "400000000")


def test_remove_groups(tenant: Tenant) -> None:
    ids = sorted(add(tenant, i) for i in range(4))
    tenant.post("/groups/my", json={"name": "g1"})
    tenant.post("/groups/my/g1/contacts", json=ids[:2])
    tenant.post("/groups/my", json={"name": 7})
    tenant.post("/groups/my/7/contacts", json=ids[2:3])
    tenant.post("/contacts/my/blacklist/Sms", json=ids)
    tenant.post("/contacts/my/blacklist/Voice", json=ids)
    assert tenant.delete("/contacts/my/blacklist/Sms/groups", json=["g1", 7]).json() == {"updated": 3}
    assert blacklisted(tenant) == ids[3:]
    assert blacklisted(tenant, "Voice") == ids
    assert tenant.delete("/contacts/my/blacklist/Voice/groups", json=["NotListed"]).json() == {"updated": 1}
    assert tenant.delete("/contacts/my/blacklist/Voice/groups", json=[{"name": "All"}]).json() == {
        "updated": 3
    }
    assert blacklisted(tenant, "Voice") == []
    assert tenant.delete("/contacts/my/blacklist/Sms/groups").json() == {"updated": 0}


def test_remove_unknown_group_is_404_and_nothing_changes(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    tenant.post("/groups/my", json={"name": "g1", "strategy": "All"})
    tenant.post("/contacts/my/blacklist/Sms", json=[cid])
    assert_error(tenant.delete("/contacts/my/blacklist/Sms/groups", json=["g1", "nope"]), 404, "404002003")
    assert blacklisted(tenant) == [cid]


def test_deleting_a_contact_clears_its_entries(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    tenant.post("/contacts/my/blacklist/Sms", json=[cid])
    tenant.delete(f"/contacts/my/{cid}")
    assert blacklisted(tenant) == []
