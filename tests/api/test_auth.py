"""POST /oauth/token and the bearer-token rules (api.md §2, §1.1)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import Container, build_container
from smscast.domain.clock import FixedClock, SystemClock
from smscast.settings import Settings
from tests.conftest import Tenant, assert_error, basic_auth, new_tenant


def _token(http: TestClient, app_id: str, secret: str, **data: str) -> object:
    return http.post(
        "/oauth/token", data={"grant_type": "client_credentials", **data}, headers=basic_auth(app_id, secret)
    )


def test_token_shape_with_all_scopes(tenant: Tenant) -> None:
    response = _token(tenant.http, tenant.application_id, tenant.application_secret)
    body = response.json()  # type: ignore[attr-defined]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "account contact report sms"
    assert body["permissions"] == ["MT_ROLE_SMS"]
    assert len(body["access_token"]) >= 32


@pytest.mark.parametrize("scope", ["sms contact", "sms,contact", "sms%2Ccontact", "contact+sms"])
def test_scope_separators(tenant: Tenant, scope: str) -> None:
    raw = f"grant_type=client_credentials&scope={scope}"
    response = tenant.http.post(
        "/oauth/token",
        content=raw,
        headers={
            **basic_auth(tenant.application_id, tenant.application_secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "contact sms"


def test_bad_secret_is_401_with_spring_body(tenant: Tenant) -> None:
    response = _token(tenant.http, tenant.application_id, "wrong")
    body = assert_error(response, 401)
    assert body["status"] == 401 and body["error"] == "Unauthorized" and body["path"] == "/oauth/token"
    assert set(body) == {"timestamp", "status", "error", "message", "path"}


def test_unknown_application_is_401(http: TestClient) -> None:
    assert_error(_token(http, "nope", "nope"), 401)


def test_unsupported_grant_type(tenant: Tenant) -> None:
    response = tenant.http.post(
        "/oauth/token",
        data={"grant_type": "password"},
        headers=basic_auth(tenant.application_id, tenant.application_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_unknown_scope_is_rejected(tenant: Tenant) -> None:
    response = _token(tenant.http, tenant.application_id, tenant.application_secret, scope="sms admin")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["error"] == "invalid_scope"  # type: ignore[attr-defined]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Token abc"])
def test_missing_or_bad_token_is_401(http: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = assert_error(http.get("/accounts/me/balance", headers=headers), 401)
    assert body["path"] == "/accounts/me/balance"


def test_scope_is_enforced(container: Container, http: TestClient) -> None:
    limited = new_tenant(container, http, scope="sms")
    assert_error(limited.get("/accounts/me/balance"), 403, "403000000")


def test_expired_token_is_401(database_url: str) -> None:
    clock = FixedClock(SystemClock().now())
    container = build_container(Settings(database_url=database_url), clock=clock)
    try:
        with TestClient(create_app(container)) as http:
            tenant = new_tenant(container, http)
            assert tenant.get("/accounts/me/balance").status_code == 200
            clock.advance(timedelta(seconds=3601).total_seconds())
            assert_error(tenant.get("/accounts/me/balance"), 401)
    finally:
        container.close()


def test_revoked_token_is_401(container: Container, tenant: Tenant) -> None:
    assert container.accounts.revoke(tenant.token)
    assert_error(tenant.get("/accounts/me/balance"), 401)


def test_secrets_and_tokens_are_stored_hashed(container: Container, tenant: Tenant) -> None:
    import sqlalchemy as sa

    from smscast.db.schema import applications, tokens

    with container.db.read() as conn:
        stored_secret = conn.execute(
            sa.select(applications.c.secret_hash).where(applications.c.id == tenant.application_id)
        ).scalar_one()
        token_hashes = (
            conn.execute(
                sa.select(tokens.c.token_hash).where(tokens.c.application_id == tenant.application_id)
            )
            .scalars()
            .all()
        )
    assert tenant.application_secret not in stored_secret
    assert stored_secret.startswith("pbkdf2_sha256$")
    assert tenant.token not in token_hashes and len(token_hashes) == 1


def test_account_created_with_balance(container: Container) -> None:
    new = container.accounts.create_account("acme", Decimal("100"), "eur")
    account = container.accounts.account(new.account_id)
    assert account.balance == Decimal("100") and account.currency == "EUR"
