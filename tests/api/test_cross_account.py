"""Isolation between accounts on every contact, label, group and blacklist path (api.md §1, §7): another
account's contact ids, group names and labels answer 404 (or are skipped in bulk deletes), are never
shown, and are never changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant, assert_error

OWNER_MOBILE = "+306948530920"


@pytest.fixture
def owned(tenant: Tenant) -> dict[str, Any]:
    """``tenant``'s contact (in group ``private``, with label ``secret``, blacklisted for Sms)."""
    tenant.post("/contacts/labels/my", json=[{"name": "secret", "type": "Text"}])
    contact = tenant.post(
        "/contacts/my", json={"mobile": OWNER_MOBILE, "firstName": "Owner", "labels": {"secret": "x"}}
    ).json()
    tenant.post("/groups/my", json={"name": "private"})
    tenant.post("/groups/my/private/contacts", json=[contact["id"]])
    tenant.post("/contacts/my/blacklist/Sms", json=[contact["id"]])
    body: dict[str, Any] = tenant.get(f"/contacts/my/{contact['id']}").json()
    return body


def owner_state(tenant: Tenant) -> tuple[Any, ...]:
    return (
        tenant.get("/contacts/my").json(),
        tenant.get("/groups/my").json(),
        tenant.get("/contacts/labels/my").json(),
        tenant.get("/contacts/my/blacklist/Sms").json(),
    )


def test_contact_paths(tenant: Tenant, other_tenant: Tenant, owned: dict[str, Any]) -> None:
    before = owner_state(tenant)
    cid = owned["id"]
    assert_error(other_tenant.get(f"/contacts/my/{cid}"), 404, "404002001")
    assert_error(other_tenant.put(f"/contacts/my/{cid}", json={"firstName": "Thief"}), 404, "404002001")
    assert_error(other_tenant.delete(f"/contacts/my/{cid}"), 404, "404002001")
    assert other_tenant.delete("/contacts/my", json=[cid]).json() == []
    assert other_tenant.delete("/contacts/my", json=[{"id": cid}]).json() == []
    assert other_tenant.head("/contacts/my/mobile", params={"value": OWNER_MOBILE}).status_code == 404
    assert other_tenant.get("/contacts/my").json()["totalElements"] == 0
    # the same mobile is free in the other account, and stays separate
    theirs = other_tenant.post("/contacts/my", json={"mobile": OWNER_MOBILE}).json()
    assert theirs["id"] != cid
    assert theirs["groups"] == ["All", "NotListed"]
    assert theirs["labels"] == []
    assert theirs["blacklistedServices"] == []
    assert owner_state(tenant) == before


def test_label_paths(tenant: Tenant, other_tenant: Tenant, owned: dict[str, Any]) -> None:
    before = owner_state(tenant)
    assert "secret" not in other_tenant.get("/contacts/labels/my").json()
    response = other_tenant.post("/contacts/my", json={"mobile": OWNER_MOBILE, "labels": {"secret": "y"}})
    assert_error(response, 400, "400002006")
    filtered = {"name": "f", "strategy": "Filtered", "filters": [{"fieldName": "secret", "searchTerm": "x"}]}
    assert_error(other_tenant.post("/groups/my", json=filtered), 400, "400002007")
    assert (
        other_tenant.post("/contacts/labels/my", json=[{"name": "secret", "type": "Number"}]).status_code
        == 200
    )
    assert owner_state(tenant) == before


def test_group_paths(tenant: Tenant, other_tenant: Tenant, owned: dict[str, Any]) -> None:
    before = owner_state(tenant)
    cid = owned["id"]
    assert [g["name"] for g in other_tenant.get("/groups/my").json()] == ["All", "NotListed"]
    assert other_tenant.get("/groups/my/page").json()["totalElements"] == 2
    assert_error(other_tenant.get("/groups/my/private"), 404, "404002003")
    assert_error(other_tenant.get("/groups/my/private/contacts"), 404, "404002003")
    assert_error(other_tenant.post("/groups/my/private/contacts", json=[cid]), 404, "404002003")
    assert_error(other_tenant.delete("/groups/my/private/contacts", json=[cid]), 404, "404002003")
    assert_error(other_tenant.delete("/groups/my", json=["private"]), 404, "404002003")
    assert_error(
        other_tenant.delete("/groups/my", params={"deleteContacts": "true"}, json=["private"]),
        404,
        "404002003",
    )
    assert_error(
        other_tenant.post("/groups/my/merge", json={"name": "m", "groups": ["private"]}), 404, "404002003"
    )
    assert_error(
        other_tenant.post("/groups/my/difference", json={"name": "d", "groups": ["All", "private"]}),
        404,
        "404002003",
    )
    assert other_tenant.get("/groups/my/All/contacts").json()["totalElements"] == 0
    everyone = other_tenant.post("/groups/my", json={"name": "everyone", "strategy": "All"}).json()
    assert everyone == {"name": "everyone", "size": 0}
    owner_filter = [{"fieldName": "firstName", "searchTerm": "Owner"}]
    matched = other_tenant.post(
        "/groups/my", json={"name": "f", "strategy": "Filtered", "filters": owner_filter}
    )
    assert matched.json() == {"name": "f", "size": 0}
    # another account's contact cannot join one's own group
    assert_error(other_tenant.post("/groups/my/everyone/contacts", json=[cid]), 404, "404002001")
    # the same group name is free in the other account
    assert other_tenant.post("/groups/my", json={"name": "private"}).json() == {"name": "private", "size": 0}
    other_tenant.delete("/groups/my", params={"deleteContacts": "true"}, json=["private", "everyone"])
    assert owner_state(tenant) == before


def test_blacklist_paths(tenant: Tenant, other_tenant: Tenant, owned: dict[str, Any]) -> None:
    before = owner_state(tenant)
    cid = owned["id"]
    assert other_tenant.get("/contacts/my/blacklist/Sms").json() == []
    assert_error(other_tenant.post("/contacts/my/blacklist/Voice", json=[cid]), 404, "404002001")
    assert_error(other_tenant.delete("/contacts/my/blacklist/Sms", json=[cid]), 404, "404002001")
    assert_error(other_tenant.delete("/contacts/my/blacklist/Sms/groups", json=["private"]), 404, "404002003")
    assert other_tenant.delete("/contacts/my/blacklist/Sms/groups", json=["All"]).json() == {"updated": 0}
    assert owner_state(tenant) == before


def test_import_paths(tenant: Tenant, other_tenant: Tenant, owned: dict[str, Any]) -> None:
    before = owner_state(tenant)
    response = other_tenant.http.post(
        "/contacts/my/import",
        content=f"mobile,firstName\n{OWNER_MOBILE},Other\n".encode(),
        params={"group": "private"},
        headers={**other_tenant.headers, "Content-Type": "text/csv"},
    )
    assert response.json() == {"created": 1, "updated": 0, "failed": []}
    assert other_tenant.get("/groups/my/private").json() == {"name": "private", "size": 1}
    bad = other_tenant.http.post(
        "/contacts/my/import",
        content=f"mobile,secret\n{OWNER_MOBILE},x\n".encode(),
        headers={**other_tenant.headers, "Content-Type": "text/csv"},
    )
    assert_error(bad, 400, "400002006")
    assert owner_state(tenant) == before
