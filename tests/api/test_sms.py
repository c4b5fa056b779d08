"""POST /sms and POST /sms/analyze (api.md §3)."""

from __future__ import annotations

import pytest

from smscast.bootstrap import Container
from tests.conftest import Tenant, assert_error, new_tenant

GR = "+306948530920"


def test_send_one(tenant: Tenant) -> None:
    response = tenant.post(
        "/sms",
        json={
            "body": "Hi €",
            "to": GR,
            "from": "ACME",
            "label": "otp",
            "callback": {"url": "http://example.com/x"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["status"] == "Queued" and body["to"] == GR and body["from"] == "ACME" and body["flash"] is False
    )
    assert body["bodyAnalysis"] == {"characters": 5, "parts": 1, "unicode": False}
    assert body["label"] == "otp" and body["callback"] == {
        "url": "http://example.com/x",
        "strategy": "OnChange",
    }
    assert len(body["trackingId"]) == 36 and body["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"to": GR, "from": "ACME"}, 400, "400000000"),
        ({"body": "x", "from": "ACME"}, 400, "400000000"),
        ({"body": "x", "to": "6948530920", "from": "ACME"}, 400, "400000000"),
        ({"body": "x", "to": GR, "from": "ACME", "ttl": 0}, 400, "400000000"),
        ({"body": "x", "to": GR, "from": "ACME", "ttl": 4321}, 400, "400000000"),
        ({"body": "x", "to": GR, "from": "ACME", "label": "l" * 21}, 400, "400000000"),
        ({"body": "x" * 1601, "to": GR, "from": "ACME"}, 400, "400000000"),
        ({"body": "x", "to": GR, "from": "ACME & CO"}, 400, "400005000"),
        ({"body": "x", "to": GR}, 400, "400000000"),
    ],
)
def test_send_errors(tenant: Tenant, payload: dict[str, object], status: int, code: str) -> None:
    assert_error(tenant.post("/sms", json=payload), status, code)


def test_send_needs_balance(container: Container, tenant: Tenant) -> None:
    poor = new_tenant(container, tenant.http, balance="0.01")
    assert_error(poor.post("/sms", json={"body": "x", "to": GR, "from": "ACME"}), 400, "400001009")


@pytest.mark.parametrize("path", ["/sms/analyze", "/sms/analyse"])
def test_analyze(tenant: Tenant, path: str) -> None:
    body = tenant.post(path, json={"body": "Γειά σου κόσμε", "from": "ACME", "to": GR}).json()
    analysis = body["bodyAnalysis"]
    assert analysis["unicode"] is True and analysis["parts"] == 1 and analysis["characters"] == 14
    assert analysis["unsupportedGSMCharacters"] == ["ε", "ι", "ά", "σ", "ο", "υ", "κ", "ό", "μ"]
    assert analysis["transcode"] == {"message": "ΓEIA ΣOY KOΣME", "parts": 1}
    assert body["cost"] == pytest.approx(0.042)
    assert "cost" not in tenant.post(path, json={"body": "hi"}).json()
    assert_error(tenant.post(path, json={"body": "hi", "to": "+1"}), 400, "400000000")
