"""Groups: create by strategy, list, page, read, delete, merge, difference, members (api.md §7), and the
repository methods the campaign engine uses (``find_by_names``, ``member_counts``, ``iter_members``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from smscast.bootstrap import Container
from smscast.db.contacts import ALL_GROUP_ID, NOT_LISTED_GROUP_ID
from smscast.db.groups import GroupRepository
from tests.conftest import Tenant, assert_error


def mobile(i: int) -> str:
    return f"+30694853{i:04d}"


def add(tenant: Tenant, i: int, **fields: Any) -> str:
    response = tenant.post("/contacts/my", json={"mobile": mobile(i), **fields})
    assert response.status_code == 200, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def group(tenant: Tenant, name: str, ids: list[str] | None = None) -> dict[str, Any]:
    response = tenant.post("/groups/my", json={"name": name})
    assert response.status_code == 200, response.text
    if ids:
        response = tenant.post(f"/groups/my/{quote(name, safe='')}/contacts", json=ids)
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sizes(tenant: Tenant) -> dict[str, int]:
    return {g["name"]: g["size"] for g in tenant.get("/groups/my").json()}


def members(tenant: Tenant, name: str) -> set[str]:
    body = tenant.get(f"/groups/my/{quote(name, safe='')}/contacts", params={"size": 1000}).json()
    return {c["id"] for c in body["content"]}


def test_new_account_has_virtual_groups(tenant: Tenant) -> None:
    assert tenant.get("/groups/my").json() == [{"name": "All", "size": 0}, {"name": "NotListed", "size": 0}]
    assert tenant.get("/groups/my/All").json() == {"name": "All", "size": 0}


def test_create_none_strategy_and_membership(tenant: Tenant) -> None:
    ids = [add(tenant, i) for i in range(3)]
    assert tenant.post("/groups/my", json={"name": "vips", "strategy": "None"}).json() == {
        "name": "vips",
        "size": 0,
    }
    assert tenant.post("/groups/my/vips/contacts", json=ids[:2]).json() == {"name": "vips", "size": 2}
    assert tenant.post("/groups/my/vips/contacts", json=[{"id": ids[1]}, {"id": ids[2]}]).json()["size"] == 3
    assert sizes(tenant) == {"All": 3, "NotListed": 0, "vips": 3}
    assert tenant.delete("/groups/my/vips/contacts", json=[ids[0]]).json() == {"name": "vips", "size": 2}
    assert sizes(tenant) == {"All": 3, "NotListed": 1, "vips": 2}
    contact = tenant.get(f"/contacts/my/{ids[1]}").json()
    assert contact["groups"] == ["All", "vips"]
    assert tenant.get(f"/contacts/my/{ids[0]}").json()["groups"] == ["All", "NotListed"]


def test_create_all_strategy_is_a_snapshot(tenant: Tenant) -> None:
    add(tenant, 1)
    add(tenant, 2)
    assert tenant.post("/groups/my", json={"name": "everyone", "strategy": "All"}).json()["size"] == 2
    add(tenant, 3)
    assert sizes(tenant) == {"All": 3, "NotListed": 1, "everyone": 2}


def test_create_filtered(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "city", "type": "Text"}])
    nick = add(tenant, 1, firstName="Nick", labels={"city": "Athens"})
    nicole = add(tenant, 2, firstName="nicole", labels={"city": "Patras"})
    bob = add(tenant, 3, firstName="Bob")

    def filtered(name: str, *filters: dict[str, str]) -> set[str]:
        response = tenant.post(
            "/groups/my", json={"name": name, "strategy": "Filtered", "filters": list(filters)}
        )
        assert response.status_code == 200, response.text
        assert response.json()["size"] == len(members(tenant, name))
        return members(tenant, name)

    assert filtered(
        "f1", {"fieldName": "firstName", "searchTerm": "NIC", "searchOperator": "starts_with"}
    ) == {
        nick,
        nicole,
    }
    assert filtered("f2", {"fieldName": "firstName", "searchTerm": "nick"}) == {nick}  # default "is"
    assert filtered("f3", {"fieldName": "city", "searchTerm": "Athens", "searchOperator": "is_not"}) == {
        nicole,
        bob,
    }
    assert filtered("f4", {"fieldName": "city", "searchTerm": "tra", "searchOperator": "contains"}) == {
        nicole
    }
    assert filtered(
        "f5",
        {"fieldName": "firstName", "searchTerm": "n", "searchOperator": "startsWith"},
        {"fieldName": "city", "searchTerm": "ens", "searchOperator": "ends_with"},
    ) == {nick}
    assert filtered("f6", {"fieldName": "country", "searchTerm": "GR", "searchOperator": "equals"}) == {
        nick,
        nicole,
        bob,
    }
    assert (
        filtered("f7", {"fieldName": "firstName", "searchTerm": "%", "searchOperator": "contains"}) == set()
    )


@pytest.mark.parametrize(
    "filters",
    [
        [],
        [{"fieldName": "shoeSize", "searchTerm": "42"}],
        [{"fieldName": "firstName", "searchTerm": "x", "searchOperator": "like"}],
        [{"fieldName": "firstName"}],
    ],
)
def test_invalid_filters_change_nothing(tenant: Tenant, filters: list[dict[str, str]]) -> None:
    add(tenant, 1, firstName="Nick")
    response = tenant.post("/groups/my", json={"name": "f", "strategy": "Filtered", "filters": filters})
    assert_error(response, 400, "400002007")
    assert_error(tenant.get("/groups/my/f"), 404, "404002003")


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "g", "strategy": "Some"}, ["g"]],
)
def test_create_validation(tenant: Tenant, body: Any) -> None:
    assert_error(tenant.post("/groups/my", json=body), 400, "400000000")
    assert sizes(tenant) == {"All": 0, "NotListed": 0}


@pytest.mark.parametrize("name", ["g", "All", "NotListed"])
def test_create_existing_name_is_409(tenant: Tenant, name: str) -> None:
    group(tenant, "g")
    assert_error(tenant.post("/groups/my", json={"name": name, "strategy": "All"}), 409, "409002005")
    assert sizes(tenant) == {"All": 0, "NotListed": 0, "g": 0}


def test_numbers_as_group_names(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    assert tenant.post("/groups/my", json={"name": 1}).json() == {"name": "1", "size": 0}
    tenant.post("/groups/my/1/contacts", json=[cid])
    merged = tenant.post("/groups/my/merge", json={"name": 2, "groups": [1]})
    assert merged.json() == {"name": "2", "size": 1}
    response = tenant.delete("/groups/my", json=[1, 2])
    assert response.json() == [
        {"name": "1", "deletedContacts": False},
        {"name": "2", "deletedContacts": False},
    ]


def test_url_encoded_names(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    name = "Früh & spät/2026 #1"
    group(tenant, name, [cid])
    assert tenant.get(f"/groups/my/{quote(name, safe='')}").json() == {"name": name, "size": 1}
    assert members(tenant, name) == {cid}
    assert tenant.delete(f"/groups/my/{quote(name, safe='')}/contacts", json=[cid]).json()["size"] == 0


def test_get_unknown_group(tenant: Tenant) -> None:
    assert_error(tenant.get("/groups/my/nope"), 404, "404002003")
    assert_error(tenant.get("/groups/my/nope/contacts"), 404, "404002003")
    assert_error(tenant.post("/groups/my/nope/contacts", json=[]), 404, "404002003")
    assert_error(tenant.delete("/groups/my/nope/contacts", json=[]), 404, "404002003")


def test_group_page(tenant: Tenant) -> None:
    for name in ("c", "a", "b"):
        group(tenant, name)
    body = tenant.get("/groups/my/page", params={"size": 2}).json()
    assert body["content"] == [{"name": "All", "size": 0}, {"name": "NotListed", "size": 0}]
    assert body["totalElements"] == 5
    assert body["totalPages"] == 3
    assert body["first"] is True
    second = tenant.get("/groups/my/page", params={"size": 2, "page": 1}).json()
    assert [g["name"] for g in second["content"]] == ["a", "b"]
    third = tenant.get("/groups/my/page", params={"size": 2, "page": 2}).json()
    assert [g["name"] for g in third["content"]] == ["c"]
    assert third["last"] is True
    odd = tenant.get("/groups/my/page", params={"size": 3, "page": 0}).json()
    assert [g["name"] for g in odd["content"]] == ["All", "NotListed", "a"]
    odd = tenant.get("/groups/my/page", params={"size": 3, "page": 1}).json()
    assert [g["name"] for g in odd["content"]] == ["b", "c"]
    desc = tenant.get("/groups/my/page", params={"size": 10, "sort": "name,desc"}).json()
    assert [g["name"] for g in desc["content"]] == ["All", "NotListed", "c", "b", "a"]
    assert_error(tenant.get("/groups/my/page", params={"sort": "size"}), 400, "400000000")


def test_group_contacts_page_and_sort(tenant: Tenant) -> None:
    ids = [add(tenant, i, firstName=name) for i, name in enumerate(["b", "c", "a"])]
    group(tenant, "g", ids[:2])
    body = tenant.get("/groups/my/g/contacts", params={"sort": "firstName,desc"}).json()
    assert [c["firstName"] for c in body["content"]] == ["c", "b"]
    assert body["totalElements"] == 2
    assert body["content"][0]["groups"] == ["All", "g"]
    everyone = tenant.get("/groups/my/All/contacts", params={"sort": "firstName"}).json()
    assert [c["firstName"] for c in everyone["content"]] == ["a", "b", "c"]
    not_listed = tenant.get("/groups/my/NotListed/contacts").json()
    assert [c["id"] for c in not_listed["content"]] == [ids[2]]


def test_membership_errors_change_nothing(tenant: Tenant) -> None:
    cid = add(tenant, 1)
    group(tenant, "g", [cid])
    assert_error(tenant.post("/groups/my/g/contacts", json=[add(tenant, 2), "0" * 24]), 404, "404002001")
    assert_error(tenant.delete("/groups/my/g/contacts", json=[cid, "0" * 24]), 404, "404002001")
    assert sizes(tenant)["g"] == 1
    assert_error(tenant.post("/groups/my/All/contacts", json=[cid]), 400, "400000000")
    assert_error(tenant.delete("/groups/my/NotListed/contacts", json=[cid]), 400, "400000000")
    assert_error(tenant.post("/groups/my/g/contacts", json=[{"x": 1}]), 400, "400000000")
    # no body / {} change nothing and answer the size
    assert tenant.post("/groups/my/g/contacts").json() == {"name": "g", "size": 1}
    assert tenant.delete("/groups/my/g/contacts", json={}).json() == {"name": "g", "size": 1}


def test_merge_and_difference(tenant: Tenant) -> None:
    ids = [add(tenant, i) for i in range(5)]
    group(tenant, "one", ids[0:3])
    group(tenant, "two", ids[2:4])
    assert tenant.post("/groups/my/merge", json={"name": "both", "groups": ["one", "two"]}).json() == {
        "name": "both",
        "size": 4,
    }
    assert members(tenant, "both") == set(ids[0:4])
    diff = tenant.post("/groups/my/difference", json={"name": "d", "groups": ["one", "two"]}).json()
    assert diff == {"name": "d", "size": 2}
    assert members(tenant, "d") == set(ids[0:2])
    listed = tenant.post("/groups/my/merge", json={"name": "nl", "groups": [{"name": "NotListed"}]}).json()
    assert listed["size"] == 1
    assert members(tenant, "nl") == {ids[4]}
    rest = tenant.post("/groups/my/difference", json={"name": "rest", "groups": ["All", "both"]}).json()
    assert rest["size"] == 1
    assert members(tenant, "rest") == {ids[4]}
    assert tenant.get(f"/contacts/my/{ids[0]}").json()["groups"] == ["All", "both", "d", "one"]


def test_merge_errors_change_nothing(tenant: Tenant) -> None:
    group(tenant, "one")
    before = sizes(tenant)
    assert_error(
        tenant.post("/groups/my/merge", json={"name": "m", "groups": ["one", "nope"]}), 404, "404002003"
    )
    assert_error(
        tenant.post("/groups/my/difference", json={"name": "one", "groups": ["one"]}), 409, "409002005"
    )
    assert_error(tenant.post("/groups/my/merge", json={"name": "m", "groups": []}), 400, "400000000")
    assert_error(tenant.post("/groups/my/merge", json={"groups": ["one"]}), 400, "400000000")
    assert sizes(tenant) == before


def test_delete_groups(tenant: Tenant) -> None:
    ids = [add(tenant, i) for i in range(3)]
    group(tenant, "keep", ids[:1])
    group(tenant, "drop", ids[:2])
    response = tenant.delete("/groups/my", json=["drop"])
    assert response.json() == [{"name": "drop", "deletedContacts": False}]
    assert sizes(tenant) == {"All": 3, "NotListed": 2, "keep": 1}
    group(tenant, "drop", ids[1:])
    response = tenant.delete("/groups/my", params={"deleteContacts": "true"}, json=[{"name": "drop"}])
    assert response.json() == [{"name": "drop", "deletedContacts": True}]
    assert sizes(tenant) == {"All": 1, "NotListed": 0, "keep": 1}
    assert tenant.delete("/groups/my").json() == []


def test_delete_group_errors_change_nothing(tenant: Tenant) -> None:
    ids = [add(tenant, i) for i in range(2)]
    group(tenant, "g", ids)
    before = sizes(tenant)
    assert_error(
        tenant.delete("/groups/my", params={"deleteContacts": "true"}, json=["g", "nope"]), 404, "404002003"
    )
    assert_error(tenant.delete("/groups/my", json=["All"]), 400, "400000000")
    assert_error(
        tenant.delete("/groups/my", params={"deleteContacts": "perhaps"}, json=["g"]), 400, "400000000"
    )
    assert sizes(tenant) == before


def test_repository_for_campaigns(container: Container, tenant: Tenant, other_tenant: Tenant) -> None:
    ids = sorted(add(tenant, i) for i in range(7))
    group(tenant, "a", ids[0:4])
    group(tenant, "b", ids[2:6])
    group(other_tenant, "a", [add(other_tenant, 1)])
    with container.db.read() as conn:
        repo = GroupRepository(conn)
        found = repo.find_by_names(tenant.account_id, ["a", "b", "All", "NotListed", "nope"])
        assert set(found) == {"a", "b", "All", "NotListed"}
        assert found["All"] == ALL_GROUP_ID
        assert found["NotListed"] == NOT_LISTED_GROUP_ID
        assert repo.member_counts(tenant.account_id, found.values()) == {
            found["a"]: 4,
            found["b"]: 4,
            ALL_GROUP_ID: 7,
            NOT_LISTED_GROUP_ID: 1,
        }
        assert repo.count_distinct_members(tenant.account_id, [found["a"], found["b"]]) == 6

        def streamed(group_ids: list[int], batch: int) -> list[list[str]]:
            return [
                [r.id for r in records] for records in repo.iter_members(tenant.account_id, group_ids, batch)
            ]

        assert streamed([found["a"], found["b"]], 4) == [ids[0:4], ids[4:6]]
        assert streamed([found["a"], found["b"], found["NotListed"]], 3) == [ids[0:3], ids[3:6], ids[6:7]]
        assert streamed([ALL_GROUP_ID, found["a"]], 5) == [ids[0:5], ids[5:7]]
        assert streamed([found["NotListed"]], 5000) == [ids[6:7]]
        assert streamed([], 10) == []
        other = repo.find_by_names(other_tenant.account_id, ["a"])["a"]
        # a group id of another account yields nothing for this one
        assert streamed([other], 10) == []
        record = next(iter(repo.iter_members(tenant.account_id, [found["a"]])))[0]
        assert record.mobile.startswith("+30")
        assert record.country == "GR"
        assert record.labels["mobile"] == record.mobile
