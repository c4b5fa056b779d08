"""Contacts: create, read, page, update, delete, bulk delete, mobile lookup (api.md §7), and the
repository reads the campaign engine uses (``by_ids``, ``by_mobiles``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from smscast.bootstrap import Container
from smscast.db.contacts import ContactRepository
from smscast.db.recipients import RecipientRepository
from tests.conftest import Tenant, assert_error

GR = "+306948530920"
UK = "+447400123456"


def mobile(i: int) -> str:
    return f"+30694853{i:04d}"


def add(tenant: Tenant, number: str, **fields: Any) -> dict[str, Any]:
    response = tenant.post("/contacts/my", json={"mobile": number, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def send(tenant: Tenant, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    """A request with extra headers (``Tenant``'s helpers set only the bearer token)."""
    return tenant.http.request(method, path, headers={**tenant.headers, **headers}, **kwargs)


JSON = {"Content-Type": "application/json"}


def count(tenant: Tenant) -> int:
    total: int = tenant.get("/contacts/my").json()["totalElements"]
    return total


def test_create_shape(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    body = add(
        tenant,
        GR,
        firstName="Nick",
        lastName="Davis",
        email="nick@example.com",
        vip=True,
        labels=[{"name": "age", "value": 42}],
    )
    assert re.fullmatch(r"[0-9a-f]{24}", body["id"])
    assert body == {
        "id": body["id"],
        "firstName": "Nick",
        "lastName": "Davis",
        "mobile": GR,
        "email": "nick@example.com",
        "country": "GR",
        "vip": True,
        "groups": ["All", "NotListed"],
        "blacklistedServices": [],
        "labels": [{"name": "age", "type": "Number", "value": "42"}],
    }
    assert tenant.get(f"/contacts/my/{body['id']}").json() == body


def test_minimal_contact_omits_absent_fields(tenant: Tenant) -> None:
    body = add(tenant, UK)
    assert set(body) == {"id", "mobile", "country", "vip", "groups", "blacklistedServices", "labels"}
    assert body["country"] == "GB"
    assert body["vip"] is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "mobile"),
        ({"mobile": ""}, "mobile"),
        ({"mobile": "306948530920"}, "mobile"),
        ({"mobile": "+30 694 853 0920"}, "mobile"),
        ({"mobile": "+3069485309"}, "mobile"),
        ({"mobile": GR, "email": "not-an-email"}, "email"),
        ({"mobile": GR, "firstName": "x" * 201}, "firstName"),
        ({"mobile": GR, "vip": "maybe"}, "vip"),
    ],
)
def test_create_validation_changes_nothing(tenant: Tenant, payload: dict[str, Any], field: str) -> None:
    body = assert_error(tenant.post("/contacts/my", json=payload), 400, "400000000")
    assert field in body["properties"], body
    assert count(tenant) == 0


def test_malformed_json_and_wrong_shape(tenant: Tenant) -> None:
    response = send(tenant, "POST", "/contacts/my", JSON, content=b"{nope")
    assert_error(response, 400, "400000000")
    assert_error(tenant.post("/contacts/my", json=[GR]), 400, "400000000")
    assert count(tenant) == 0


def test_mobile_unique_per_account(tenant: Tenant, other_tenant: Tenant) -> None:
    add(tenant, GR, firstName="First")
    body = assert_error(
        tenant.post("/contacts/my", json={"mobile": GR, "firstName": "Second"}), 409, "409002005"
    )
    assert GR in body["developerMessage"]
    assert count(tenant) == 1
    assert tenant.get("/contacts/my").json()["content"][0]["firstName"] == "First"
    add(other_tenant, GR)  # another account may have the same mobile


def test_loose_scalars(tenant: Tenant) -> None:
    tenant.post(
        "/contacts/labels/my", json=[{"name": "score", "type": "Number"}, {"name": "note", "type": "Text"}]
    )
    body = add(tenant, GR, vip="true", firstName=7, labels={"score": "3.5", "note": True})
    assert body["vip"] is True
    assert body["firstName"] == "7"
    assert {label["name"]: label["value"] for label in body["labels"]} == {"note": "true", "score": "3.5"}


def test_get_unknown_contact(tenant: Tenant) -> None:
    assert_error(tenant.get("/contacts/my/" + "0" * 24), 404, "404002001")
    assert_error(tenant.get("/contacts/my/not-an-id"), 404, "404002001")


def test_page_and_sort(tenant: Tenant) -> None:
    for i, name in enumerate(["Carol", "alice", "Bob"]):
        add(tenant, mobile(i), firstName=name)
    add(tenant, mobile(9))  # no first name: sorts last either way
    body = tenant.get("/contacts/my", params={"size": 2}).json()
    assert body["totalElements"] == 4
    assert body["totalPages"] == 2
    assert body["numberOfElements"] == 2
    assert body["first"] is True
    assert body["last"] is False
    assert body["size"] == 2
    assert body["number"] == 0
    assert [c.get("firstName") for c in body["content"]] == ["Carol", "alice"]  # creation order
    second = tenant.get("/contacts/my", params={"size": 2, "page": 1}).json()
    assert second["last"] is True
    assert second["first"] is False
    by_name = tenant.get("/contacts/my", params={"sort": "firstName"}).json()["content"]
    assert [c.get("firstName") for c in by_name] == ["Bob", "Carol", "alice", None]
    desc = tenant.get("/contacts/my", params={"sort": "firstName,desc"}).json()["content"]
    assert [c.get("firstName") for c in desc] == ["alice", "Carol", "Bob", None]
    body = assert_error(tenant.get("/contacts/my", params={"sort": "shoeSize"}), 400, "400000000")
    assert "sort" in body["properties"]
    assert_error(tenant.get("/contacts/my", params={"size": 0}), 400, "400000000")


def test_update_merges_fields(tenant: Tenant) -> None:
    tenant.post(
        "/contacts/labels/my", json=[{"name": "age", "type": "Number"}, {"name": "city", "type": "Text"}]
    )
    created = add(
        tenant,
        GR,
        firstName="Nick",
        lastName="Davis",
        email="n@example.com",
        labels=[{"name": "age", "value": "30"}, {"name": "city", "value": "Athens"}],
    )
    cid = created["id"]
    body = tenant.put(
        f"/contacts/my/{cid}",
        json={"firstName": "James", "email": "", "mobile": UK, "labels": [{"name": "age", "value": None}]},
    ).json()
    assert body["firstName"] == "James"
    assert body["lastName"] == "Davis"
    assert "email" not in body
    assert body["mobile"] == UK
    assert body["country"] == "GB"
    assert body["labels"] == [{"name": "city", "type": "Text", "value": "Athens"}]
    assert body["vip"] is False
    body = tenant.put(f"/contacts/my/{cid}", json={"vip": "true"}).json()
    assert body["vip"] is True
    assert body["firstName"] == "James"
    assert tenant.get(f"/contacts/my/{cid}").json() == body


def test_update_errors_change_nothing(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    first = add(tenant, GR, firstName="Nick")
    add(tenant, UK)
    cid = first["id"]
    assert_error(tenant.put(f"/contacts/my/{cid}", json={"mobile": "+30"}), 400, "400000000")
    assert_error(tenant.put(f"/contacts/my/{cid}", json={"mobile": ""}), 400, "400000000")
    assert_error(tenant.put(f"/contacts/my/{cid}", json={"firstName": "Z", "mobile": UK}), 409, "409002005")
    bad_label = {"firstName": "Z", "labels": [{"name": "age", "value": "old"}]}
    assert_error(tenant.put(f"/contacts/my/{cid}", json=bad_label), 400, "400002006")
    assert_error(tenant.put("/contacts/my/" + "0" * 24, json={"firstName": "Z"}), 404, "404002001")
    assert tenant.get(f"/contacts/my/{cid}").json() == first
    # keeping one's own mobile is no conflict
    assert tenant.put(f"/contacts/my/{cid}", json={"mobile": GR}).status_code == 200


def test_delete_one_answers_the_contact(tenant: Tenant) -> None:
    created = add(tenant, GR, firstName="Nick")
    response = tenant.delete(f"/contacts/my/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert_error(tenant.get(f"/contacts/my/{created['id']}"), 404, "404002001")
    assert_error(tenant.delete(f"/contacts/my/{created['id']}"), 404, "404002001")


@pytest.mark.parametrize("form", ["strings", "objects"])
def test_bulk_delete_answers_deleted_ids(tenant: Tenant, form: str) -> None:
    ids = [add(tenant, mobile(i))["id"] for i in range(3)]
    unknown = "f" * 24
    wanted = [ids[0], unknown, ids[2]]
    body = wanted if form == "strings" else [{"id": i} for i in wanted]
    response = tenant.delete("/contacts/my", json=body)
    assert response.status_code == 200
    assert response.json() == [ids[0], ids[2]]
    assert [c["id"] for c in tenant.get("/contacts/my").json()["content"]] == [ids[1]]


def test_bulk_delete_without_body_or_with_empty_object(tenant: Tenant) -> None:
    add(tenant, GR)
    response = tenant.delete("/contacts/my")
    assert response.status_code == 200
    assert response.json() == []
    response = send(tenant, "DELETE", "/contacts/my", JSON, content=b"{}")
    assert response.status_code == 200
    assert response.json() == []
    assert count(tenant) == 1
    assert_error(tenant.delete("/contacts/my", json=[{"nope": 1}]), 400, "400000000")
    assert count(tenant) == 1


def test_json_body_without_content_type(tenant: Tenant) -> None:
    cid = add(tenant, GR)["id"]
    response = tenant.delete("/contacts/my", content=f'["{cid}"]'.encode())
    assert response.status_code == 200
    assert response.json() == [cid]


def test_head_mobile(tenant: Tenant) -> None:
    add(tenant, GR)
    found = tenant.head("/contacts/my/mobile", params={"value": GR})
    assert found.status_code == 200
    assert found.content == b""
    # an unencoded "+" in a query string arrives as a space
    assert tenant.head(f"/contacts/my/mobile?value={GR}").status_code == 200
    missing = tenant.head("/contacts/my/mobile", params={"value": UK})
    assert missing.status_code == 404
    assert missing.content == b""
    assert tenant.head("/contacts/my/mobile").status_code == 400


def test_get_with_json_content_type_and_no_body(tenant: Tenant) -> None:
    cid = add(tenant, GR)["id"]
    response = send(tenant, "GET", f"/contacts/my/{cid}", JSON)
    assert response.status_code == 200
    assert response.json()["id"] == cid


def test_scope_required(container: Container, tenant: Tenant) -> None:
    from tests.conftest import new_tenant

    sms_only = new_tenant(container, tenant.http, scope="sms")
    assert_error(sms_only.get("/contacts/my"), 403, "403000000")
    assert_error(tenant.http.get("/contacts/my"), 401)


def test_repository_records(container: Container, tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    a = add(tenant, GR, firstName="Nick", labels={"age": 7})
    b = add(tenant, UK)
    tenant.post("/contacts/my/blacklist/Sms", json=[b["id"]])
    foreign = add(other_tenant, mobile(5))
    with container.db.read() as conn:
        repo = RecipientRepository(conn)
        records = repo.by_ids(tenant.account_id, [b["id"], a["id"], foreign["id"], "0" * 24])
        assert [r.id for r in records] == sorted([a["id"], b["id"]])
        nick = next(r for r in records if r.id == a["id"])
        assert nick.mobile == GR
        assert nick.country == "GR"
        assert nick.blacklisted_services == frozenset()
        assert nick.labels == {"firstName": "Nick", "mobile": GR, "country": "GR", "age": "7"}
        by_mobile = repo.by_mobiles(tenant.account_id, [UK, mobile(5), "+15550000000"])
        assert set(by_mobile) == {UK}
        assert by_mobile[UK].blacklisted_services == frozenset({"Sms"})


def test_concurrent_duplicate_mobile_is_409(
    container: Container, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create racing another with the same mobile (both pass the check) loses on the unique key: 409."""
    add(tenant, GR, firstName="First")
    monkeypatch.setattr(ContactRepository, "id_by_mobile", lambda *_args: None)
    assert_error(tenant.post("/contacts/my", json={"mobile": GR}), 409, "409002005")
    assert count(tenant) == 1
    other = add(tenant, UK)
    assert_error(tenant.put(f"/contacts/my/{other['id']}", json={"mobile": GR}), 409, "409002005")
    assert tenant.get(f"/contacts/my/{other['id']}").json() == other
