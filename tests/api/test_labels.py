"""Contact labels: definitions (``/contacts/labels/my``) and their values on contacts (api.md §7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant, assert_error

GR = "+306948530920"
DEFAULTS = {"firstName": "Text", "lastName": "Text", "mobile": "Text", "email": "Text", "country": "Text"}


def labels(tenant: Tenant) -> dict[str, str]:
    body: dict[str, str] = tenant.get("/contacts/labels/my").json()
    return body


def test_defaults_listed(tenant: Tenant) -> None:
    assert labels(tenant) == DEFAULTS


def test_create_and_list(tenant: Tenant) -> None:
    response = tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}, {"name": "city"}])
    assert response.status_code == 200
    assert response.json() == [{"name": "age", "type": "Number"}, {"name": "city", "type": "Text"}]
    assert labels(tenant) == {**DEFAULTS, "age": "Number", "city": "Text"}
    # a single object is accepted too, and the type's case is forgiven
    assert tenant.post("/contacts/labels/my", json={"name": "level", "type": "number"}).json() == [
        {"name": "level", "type": "Number"}
    ]


@pytest.mark.parametrize("name", ["age", "firstName", "mobile", "vip"])
def test_existing_label_is_409_and_nothing_changes(tenant: Tenant, name: str) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    before = labels(tenant)
    body = [{"name": "fresh", "type": "Text"}, {"name": name, "type": "Text"}]
    assert_error(tenant.post("/contacts/labels/my", json=body), 409, "409002011")
    assert labels(tenant) == before


def test_label_named_twice_is_400002014(tenant: Tenant) -> None:
    body = [{"name": "x", "type": "Text"}, {"name": "x", "type": "Number"}]
    assert_error(tenant.post("/contacts/labels/my", json=body), 400, "400002014")
    assert labels(tenant) == DEFAULTS


@pytest.mark.parametrize(
    "body",
    [
        [{"name": "x", "type": "Date"}],
        [{"type": "Text"}],
        [{"name": "", "type": "Text"}],
        [{"name": "a[b]", "type": "Text"}],
        [{"name": "y" * 101, "type": "Text"}],
        "age",
    ],
)
def test_bad_definitions_are_400000000(tenant: Tenant, body: Any) -> None:
    assert_error(tenant.post("/contacts/labels/my", json=body), 400, "400000000")
    assert labels(tenant) == DEFAULTS


def test_number_labels_are_validated(tenant: Tenant) -> None:
    tenant.post(
        "/contacts/labels/my", json=[{"name": "age", "type": "Number"}, {"name": "nick", "type": "Text"}]
    )
    for value in ("12", 12, 3.25, "-4.5", "1e3"):
        response = tenant.post(
            "/contacts/my", json={"mobile": GR, "labels": [{"name": "age", "value": value}]}
        )
        assert response.status_code == 200, (value, response.text)
        tenant.delete(f"/contacts/my/{response.json()['id']}")
    for value in ("twelve", "NaN", "Infinity", "12abc"):
        response = tenant.post(
            "/contacts/my", json={"mobile": GR, "labels": [{"name": "age", "value": value}]}
        )
        body = assert_error(response, 400, "400002006")
        assert "labels.age" in body["properties"], body
    text = tenant.post("/contacts/my", json={"mobile": GR, "labels": [{"name": "nick", "value": "twelve"}]})
    assert text.status_code == 200


@pytest.mark.parametrize(
    "labels_in",
    [
        [{"name": "unknown", "value": "x"}],
        [{"name": "firstName", "value": "x"}],
        [{"name": "nick", "value": "a"}, {"name": "nick", "value": "b"}],
        [{"name": "nick", "value": "x" * 1001}],
    ],
)
def test_invalid_labels_on_contacts_change_nothing(tenant: Tenant, labels_in: list[dict[str, Any]]) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "nick", "type": "Text"}])
    assert_error(tenant.post("/contacts/my", json={"mobile": GR, "labels": labels_in}), 400, "400002006")
    assert tenant.get("/contacts/my").json()["totalElements"] == 0


def test_labels_are_per_account(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "secret", "type": "Text"}])
    assert "secret" not in labels(other_tenant)
    response = other_tenant.post(
        "/contacts/my", json={"mobile": GR, "labels": [{"name": "secret", "value": "x"}]}
    )
    assert_error(response, 400, "400002006")
    # the other account may define the same name itself
    assert (
        other_tenant.post("/contacts/labels/my", json=[{"name": "secret", "type": "Number"}]).status_code
        == 200
    )
    assert labels(tenant)["secret"] == "Text"
