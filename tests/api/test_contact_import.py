"""Bulk CSV import: ``POST /contacts/my/import`` (smscast; api.md §7, services/contact_import.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant, assert_error


def mobile(i: int) -> str:
    return f"+30694853{i:04d}"


def upload(tenant: Tenant, text: str | bytes, **params: str) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return tenant.http.post(
        "/contacts/my/import",
        content=data,
        params=params,
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )


def contacts(tenant: Tenant) -> dict[str, dict[str, Any]]:
    body = tenant.get("/contacts/my", params={"size": 1000}).json()
    return {c["mobile"]: c for c in body["content"]}


def labels_of(contact: dict[str, Any]) -> dict[str, str]:
    return {label["name"]: label["value"] for label in contact["labels"]}


def test_create_and_update(tenant: Tenant) -> None:
    tenant.post(
        "/contacts/labels/my", json=[{"name": "age", "type": "Number"}, {"name": "city", "type": "Text"}]
    )
    first = (
        "mobile,firstName,lastName,email,vip,age,city,country\n"
        f"{mobile(1)},Nick,Davis,nick@example.com,true,42,Athens,XX\n"
        f"{mobile(2)},Anna,,,,,,\n"
    )
    response = upload(tenant, first)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 2, "updated": 0, "failed": []}
    nick = contacts(tenant)[mobile(1)]
    assert nick["firstName"] == "Nick"
    assert nick["lastName"] == "Davis"
    assert nick["email"] == "nick@example.com"
    assert nick["vip"] is True
    assert nick["country"] == "GR"
    assert labels_of(nick) == {"age": "42", "city": "Athens"}
    assert set(contacts(tenant)[mobile(2)]) == {
        "id",
        "firstName",
        "mobile",
        "country",
        "vip",
        "groups",
        "blacklistedServices",
        "labels",
    }

    # an existing mobile updates: non-blank cells overwrite, blank cells keep
    second = f"mobile,firstName,lastName,age,vip\n{mobile(1)},James,,43,no\n{mobile(3)},New,,,\n"
    assert upload(tenant, second).json() == {"created": 1, "updated": 1, "failed": []}
    nick = contacts(tenant)[mobile(1)]
    assert nick["firstName"] == "James"
    assert nick["lastName"] == "Davis"
    assert nick["vip"] is False
    assert labels_of(nick) == {"age": "43", "city": "Athens"}
    assert nick["id"] == contacts(tenant)[mobile(1)]["id"]
    assert len(contacts(tenant)) == 3


def test_failures_are_reported_per_line(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    text = (
        "mobile,firstName,email,age,vip\n"  # line 1
        f"{mobile(1)},Ok,,1,\n"  # 2
        "+3069,Short,,,\n"  # 3: invalid number
        ",NoMobile,,,\n"  # 4
        f"{mobile(2)},BadAge,,old,\n"  # 5
        f"{mobile(3)},BadMail,nope,,\n"  # 6
        f"{mobile(4)},TooFew\n"  # 7
        "\n"  # 8: blank, skipped
        f"{mobile(1)},Again,,,\n"  # 9: repeated mobile
        f"{mobile(5)},BadVip,,,maybe\n"  # 10
        f'{mobile(6)},"Multi\nLine",,,\n'  # 11-12
        "hello,World,,,\n"  # 13
        f"{mobile(7)},Last,,7,1\n"  # 14
    )
    response = upload(tenant, text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 3
    assert body["updated"] == 0
    failed = {item["line"]: item["reason"] for item in body["failed"]}
    assert sorted(failed) == [3, 4, 5, 6, 7, 9, 10, 13]
    assert "Invalid phone number" in failed[3]
    assert "mobile" in failed[4]
    assert "age" in failed[5]
    assert "email" in failed[6]
    assert "5" in failed[7]
    assert "line 2" in failed[9]
    assert "vip" in failed[10]
    stored = contacts(tenant)
    assert set(stored) == {mobile(1), mobile(6), mobile(7)}
    assert stored[mobile(1)]["firstName"] == "Ok"
    assert stored[mobile(6)]["firstName"] == "Multi\nLine"
    assert stored[mobile(7)]["vip"] is True


def test_lenient_header_and_format(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "Favourite colour", "type": "Text"}])
    text = "\ufeffMobile;FIRSTNAME;favourite COLOUR\r\n306948530001;Nick;blue\r\n"
    response = upload(tenant, text)
    assert response.json() == {"created": 1, "updated": 0, "failed": []}
    nick = contacts(tenant)[mobile(1)]
    assert nick["firstName"] == "Nick"
    assert labels_of(nick) == {"Favourite colour": "blue"}


def test_group_parameter(tenant: Tenant) -> None:
    existing = tenant.post("/contacts/my", json={"mobile": mobile(1)}).json()["id"]
    text = f"mobile\n{mobile(1)}\n{mobile(2)}\n"
    assert upload(tenant, text, group="imported").json() == {"created": 1, "updated": 1, "failed": []}
    assert tenant.get("/groups/my/imported").json() == {"name": "imported", "size": 2}
    assert tenant.get(f"/contacts/my/{existing}").json()["groups"] == ["All", "imported"]
    assert upload(tenant, f"mobile\n{mobile(3)}\n", group="imported").json()["created"] == 1
    assert tenant.get("/groups/my/imported").json()["size"] == 3
    assert upload(tenant, f"mobile\n{mobile(4)}\n", group="All").json()["created"] == 1
    assert [g["name"] for g in tenant.get("/groups/my").json()] == ["All", "NotListed", "imported"]


@pytest.mark.parametrize(
    ("body", "code", "params"),
    [
        (b"", "400000000", {}),
        (b"  \n\n", "400000000", {}),
        (b"\xff\xfe\x00m\x00o", "400000000", {}),
        (b"firstName\nNick\n", "400000000", {}),
        (b"mobile,mobile\n+306948530001,+306948530002\n", "400000000", {}),
        (b"mobile,,x\n+306948530001,,\n", "400000000", {}),
        (b'mobile,firstName\n+306948530001,"unterminated\n', "400000000", {}),
        (b'mobile,firstName\n+306948530001,"a"b\n', "400000000", {}),
        (b"mobile,shoeSize\n+306948530001,42\n", "400002006", {}),
        (b"mobile\n+306948530001\n", "400000000", {"group": "NotListed"}),
        (b"mobile\n+306948530001\n", "400000000", {"group": " "}),
    ],
)
def test_request_errors_change_nothing(
    tenant: Tenant, body: bytes, code: str, params: dict[str, str]
) -> None:
    assert_error(upload(tenant, body, **params), int(code[:3]), code)
    assert contacts(tenant) == {}
    assert len(tenant.get("/groups/my").json()) == 2


def test_ten_thousand_rows(tenant: Tenant) -> None:
    tenant.post("/contacts/labels/my", json=[{"name": "age", "type": "Number"}])
    rows = [f"{mobile(i)},Name{i},{i % 90}" for i in range(10_000)]
    text = "mobile,firstName,age\n" + "\n".join(rows) + "\n"
    assert upload(tenant, text, group="big").json() == {"created": 10_000, "updated": 0, "failed": []}
    assert tenant.get("/groups/my/big").json()["size"] == 10_000
    assert upload(tenant, text, group="big").json() == {"created": 0, "updated": 10_000, "failed": []}
    assert tenant.get("/contacts/my", params={"size": 1}).json()["totalElements"] == 10_000
