"""Balance, transactions, prices (api.md §8) and the operations endpoints (§9)."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from tests.conftest import Tenant, assert_error


def test_balance_shape(tenant: Tenant) -> None:
    response = tenant.get("/accounts/me/balance")
    assert response.status_code == 200
    assert response.json() == {"balance": 1000.0, "currency": {"code": "EUR", "name": "Euro", "sign": "€"}}


def test_transactions_page_and_balance_is_ledger_sum(container: Container, tenant: Tenant) -> None:
    container.accounts.top_up(tenant.account_id, Decimal("12.345678"))
    body = tenant.get("/accounts/me/transactions", params={"size": 1}).json()
    assert body["totalElements"] == 2 and body["numberOfElements"] == 1 and body["totalPages"] == 2
    assert body["first"] is True and body["last"] is False
    latest = body["content"][0]
    assert latest["transactionType"] == "TopUp" and latest["amount"] == 12.345678
    assert latest["balanceBefore"] == 1000.0 and latest["balanceAfter"] == 1012.345678
    assert latest["date"].endswith("Z") and len(latest["date"]) == 24
    assert tenant.get("/accounts/me/balance").json()["balance"] == 1012.345678
    from smscast.db.accounts import AccountRepository

    with container.db.read() as conn:
        assert AccountRepository(conn).ledger_sum(tenant.account_id) == Decimal("1012.345678")


def test_transactions_date_filter_and_bad_date(tenant: Tenant) -> None:
    assert (
        tenant.get("/accounts/me/transactions", params={"from": "2999-01-01T00:00:00Z"}).json()[
            "totalElements"
        ]
        == 0
    )
    body = assert_error(
        tenant.get("/accounts/me/transactions", params={"from": "yesterday"}), 400, "400000000"
    )
    assert "from" in body["properties"]
    body = assert_error(tenant.get("/accounts/me/transactions", params={"to": "2026-01-01T00:00:00"}), 400)
    assert "to" in body["properties"]


def test_paging_bounds(tenant: Tenant) -> None:
    body = assert_error(tenant.get("/accounts/me/transactions", params={"size": 1001}), 400, "400000000")
    assert "size" in body["properties"]
    assert_error(tenant.get("/accounts/me/transactions", params={"page": -1}), 400, "400000000")


def test_top_up_validation_changes_nothing(container: Container, tenant: Tenant) -> None:
    import pytest

    from smscast.domain.errors import AccountNotFound, ValidationFailed

    with pytest.raises(ValidationFailed):
        container.accounts.top_up(tenant.account_id, Decimal("-5"))
    with pytest.raises(AccountNotFound):
        container.accounts.top_up("missing", Decimal("5"))
    assert tenant.get("/accounts/me/balance").json()["balance"] == 1000.0


def test_prices(tenant: Tenant) -> None:
    body = tenant.get("/system/prices").json()
    assert body["currency"]["code"] == "EUR"
    greece = next(entry for entry in body["sms"] if entry["iso"] == "GR")
    assert greece["mcc"] == "202" and greece["networks"][0]["price"] > 0
    only = tenant.get("/system/prices", params={"mcc": "202"}).json()["sms"]
    assert [entry["iso"] for entry in only] == ["GR"]
    assert_error(tenant.get("/system/prices", params={"currency": "USD"}), 400, "400000000")


def test_health_metrics_docs(http: TestClient) -> None:
    assert http.get("/health").json() == {"status": "UP"}
    http.get("/health")
    metrics = http.get("/metrics").text
    assert 'smscast_http_requests_total{method="GET",route="/health",status="200"}' in metrics
    assert http.get("/openapi.json").json()["info"]["title"] == "smscast"
    assert http.get("/docs").status_code == 200


def test_unknown_path_and_method_use_error_shape(tenant: Tenant) -> None:
    assert_error(tenant.get("/nope"), 404, "404000000")
    assert_error(tenant.delete("/accounts/me/balance"), 405, "405000000")
