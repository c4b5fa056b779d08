"""Rate limit (429000000), body size limit (413000000) and security headers on every response."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import Container, build_container
from smscast.domain.rate_limit import BucketPolicy, RateLimiter
from smscast.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IMPORT_BYTES,
    DEFAULT_RATE_LIMIT_BURST,
    DEFAULT_RATE_LIMIT_PER_S,
    Settings,
    SettingsError,
)
from tests.conftest import Tenant, assert_error, new_tenant

GR = "+306948530920"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(database_url: str) -> Iterator[tuple[Container, TestClient]]:
    """An app with small limits: 2 requests/s in bursts of 3, 2 KiB bodies, 8 KiB imports."""
    settings = Settings(
        database_url=database_url,
        rate_limit_per_s=2,
        rate_limit_burst=3,
        max_body_bytes=2048,
        max_import_bytes=8192,
    )
    built = build_container(settings)
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as client:
            yield built, client
    finally:
        built.close()


def _post(tenant: Tenant, path: str, content: object, headers: dict[str, str]) -> object:
    return tenant.http.post(path, content=content, headers={**tenant.headers, **headers})  # type: ignore[arg-type]


# --- rate limit -----------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    clock = FakeClock()
    container.rate_limiter = RateLimiter(container.rate_limiter.policy, clock)
    tenant = new_tenant(container, http)
    for _ in range(3):
        assert tenant.get("/accounts/me/balance").status_code == 200
    response = tenant.get("/accounts/me/balance")
    body = assert_error(response, 429, "429000000")
    assert response.headers["Retry-After"] == "1"
    assert "2 requests/s" in body["developerMessage"]
    assert response.headers["Cache-Control"] == "no-store"
    clock.now += 0.5  # one token back at 2/s
    assert tenant.get("/accounts/me/balance").status_code == 200
    assert_error(tenant.post("/sms", json={"body": "x", "to": GR, "from": "ACME"}), 429, "429000000")


def test_retry_after_rounds_the_wait_up(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    container.rate_limiter = RateLimiter(BucketPolicy(rate_per_s=0.2, burst=1), FakeClock())
    tenant = new_tenant(container, http)
    assert tenant.get("/groups/my").status_code == 200
    response = tenant.get("/groups/my")
    assert_error(response, 429, "429000000")
    assert response.headers["Retry-After"] == "5"


def test_rate_limit_is_per_application(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    container.rate_limiter = RateLimiter(container.rate_limiter.policy, FakeClock())
    first, second = new_tenant(container, http), new_tenant(container, http)
    for _ in range(3):
        assert first.get("/contacts/labels/my").status_code == 200
    assert_error(first.get("/contacts/labels/my"), 429, "429000000")
    assert second.get("/contacts/labels/my").status_code == 200


def test_unauthenticated_requests_take_nothing_from_the_bucket(
    limited: tuple[Container, TestClient],
) -> None:
    container, http = limited
    container.rate_limiter = RateLimiter(container.rate_limiter.policy, FakeClock())
    tenant = new_tenant(container, http)
    for _ in range(10):
        assert http.get("/accounts/me/balance", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert http.get("/health").status_code == 200
    assert tenant.get("/accounts/me/balance").status_code == 200


def test_test_suite_apps_keep_the_production_default(container: Container) -> None:
    assert container.rate_limiter.policy == BucketPolicy(DEFAULT_RATE_LIMIT_PER_S, DEFAULT_RATE_LIMIT_BURST)


# --- body size limit ------------------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_413(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    tenant = new_tenant(container, http)
    response = tenant.post("/sms", json={"body": "x" * 3000, "to": GR, "from": "ACME"})
    body = assert_error(response, 413, "413000000")
    assert "2048 bytes" in body["developerMessage"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_streamed_body_without_length_is_counted(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    tenant = new_tenant(container, http)

    def chunks() -> Iterator[bytes]:
        yield b'{"body": "'
        for _ in range(40):
            yield b"x" * 100
        yield b'", "to": "+306948530920", "from": "ACME"}'

    response = _post(tenant, "/sms", chunks(), {"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "413000000")

    def small() -> Iterator[bytes]:
        yield b'{"body": "hi", "to": "+306948530920", '
        yield b'"from": "ACME"}'

    response = _post(tenant, "/sms", small(), {"Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def test_imports_have_a_larger_limit(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    tenant = new_tenant(container, http)
    rows = "".join(f"+3069485{n:05d},name{n}\n" for n in range(200))  # ~5 KB: over 2 KiB, under 8 KiB
    csv = ("mobile,firstName\n" + rows).encode()
    assert 2048 < len(csv) < 8192
    response = _post(tenant, "/contacts/my/import", csv, {"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 200
    too_big = csv + b"".join(f"+3069486{n:05d},x\n".encode() for n in range(300))
    response = _post(tenant, "/contacts/my/import", too_big, {"Content-Type": "text/csv"})
    assert_error(response, 413, "413000000")
    assert_error(tenant.post("/contacts/my", content=csv), 413, "413000000")


def test_streamed_import_over_the_limit_is_413(limited: tuple[Container, TestClient]) -> None:
    container, http = limited
    tenant = new_tenant(container, http)

    def chunks() -> Iterator[bytes]:
        yield b"mobile\n"
        for n in range(1000):
            yield f"+3069487{n:05d}\n".encode()

    response = _post(tenant, "/contacts/my/import", chunks(), {"Content-Type": "text/csv"})
    assert_error(response, 413, "413000000")


# --- security headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/me/balance", "/nope", "/health"])
def test_json_responses_carry_the_security_headers(tenant: Tenant, path: str) -> None:
    response = tenant.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_401_carries_the_security_headers(http: TestClient) -> None:
    response = http.get("/accounts/me/balance")
    assert response.status_code == 401
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


def test_docs_page_is_not_framable_but_keeps_its_scripts(http: TestClient) -> None:
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "Cache-Control" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_route_own_csp_and_headers_are_kept(http: TestClient) -> None:
    response = http.get("/ui/login")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and csp.count("frame-ancestors") == 1
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers.get_list("X-Frame-Options") == ["DENY"]


def test_internal_errors_carry_the_security_headers(
    limited: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, http = limited
    tenant = new_tenant(container, http)

    def boom(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(container.accounts, "account", boom)
    response = tenant.get("/accounts/me/balance")
    assert_error(response, 500, "500000000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


# --- settings -------------------------------------------------------------------------------------------


def test_limit_settings_defaults_and_overrides() -> None:
    defaults = Settings.from_env({})
    assert (defaults.rate_limit_per_s, defaults.rate_limit_burst) == (50.0, 200)
    assert defaults.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 8 * 1024 * 1024
    assert defaults.max_import_bytes == DEFAULT_MAX_IMPORT_BYTES == 64 * 1024 * 1024
    custom = Settings.from_env(
        {
            "SMSCAST_RATE_LIMIT_PER_S": "0",
            "SMSCAST_RATE_LIMIT_BURST": "10",
            "SMSCAST_MAX_BODY_BYTES": "1024",
            "SMSCAST_MAX_IMPORT_BYTES": "4096",
        }
    )
    assert custom == replace(
        defaults, rate_limit_per_s=0.0, rate_limit_burst=10, max_body_bytes=1024, max_import_bytes=4096
    )
    assert not build_container(custom).rate_limiter.policy.enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMSCAST_RATE_LIMIT_PER_S", "-1"),
        ("SMSCAST_RATE_LIMIT_PER_S", "fast"),
        ("SMSCAST_RATE_LIMIT_PER_S", "inf"),
        ("SMSCAST_RATE_LIMIT_BURST", "0"),
        ("SMSCAST_RATE_LIMIT_BURST", "1.5"),
        ("SMSCAST_MAX_BODY_BYTES", "0"),
        ("SMSCAST_MAX_BODY_BYTES", "8MiB"),
        ("SMSCAST_MAX_IMPORT_BYTES", "-5"),
    ],
)
def test_bad_limit_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


# --- out-of-range input (found by tests/fuzz) -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns?page=99999999999999999999",
        "/contacts/my?page=9223372036854775807&size=1000",
        "/groups/my/page?page=2147483648",
        "/accounts/me/transactions?page=10000000000000",
    ],
)
def test_page_numbers_beyond_a_java_int_are_400_not_500(tenant: Tenant, path: str) -> None:
    body = assert_error(tenant.get(path), 400, "400000000")
    assert "page" in body["properties"]


def test_the_largest_page_number_is_an_empty_page(tenant: Tenant) -> None:
    response = tenant.get("/contacts/my?page=2147483647&size=1000")
    assert response.status_code == 200, response.text
    assert response.json()["content"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scheduledDate", 10**20),
        ("scheduledDate", "99999999999999999999"),
        ("scheduledDate", -(10**15)),
        ("scheduledDate", "0001-01-01T00:00:00+01:00"),
        ("scheduledDate", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_dates_out_of_range_are_400_not_500(tenant: Tenant, field: str, value: object) -> None:
    payload = {"body": "x", "from": "ACME", "to": [GR], field: value}
    body = assert_error(tenant.post("/sms/campaign", json=payload), 400, "400000000")
    assert body["properties"][field] in (
        "the epoch seconds are out of range",
        "the date-time is out of range",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("from", "99999999999999999999"), ("to", "-99999999999999999"), ("from", "0001-01-01T00:00+01:00")],
)
def test_transaction_dates_out_of_range_are_400_not_500(tenant: Tenant, name: str, value: str) -> None:
    body = assert_error(tenant.get("/accounts/me/transactions", params={name: value}), 400, "400000000")
    assert name in body["properties"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/contacts/my", {"mobile": "+306948530920", "firstName": "a\u0000b"}, "body"),
        ("POST", "/sms", {"body": "hi\u0000", "to": GR, "from": "ACME"}, "body"),
        ("POST", "/sms/tracking", [{"fieldName": "to", "searchTerm": "\u0000"}], "body"),
        ("DELETE", "/contacts/my", ["\u0000"], "body"),
        ("GET", "/campaigns?name=%00", None, "name"),
        ("GET", "/system/prices?mcc=%00", None, "mcc"),
        ("GET", "/groups/my/a%00b/contacts", None, "name"),
        ("GET", "/contacts/my/%00", None, "contactId"),
        ("GET", "/sms/tracking/single/%00", None, "messageId"),
        ("DELETE", "/sms/%00", None, "trackingId"),
    ],
)
def test_nul_characters_are_400_on_every_database(
    tenant: Tenant, method: str, path: str, payload: object, field: str
) -> None:
    """PostgreSQL cannot store U+0000 (it answered 500); SQLite can. Both now answer 400000000."""
    response = tenant.http.request(method, path, json=payload, headers=tenant.headers)
    body = assert_error(response, 400, "400000000")
    assert body["properties"] == {field: "must not contain NUL (U+0000) characters"}


def test_an_escaped_backslash_before_u0000_is_ordinary_text(tenant: Tenant) -> None:
    response = tenant.post("/sms", json={"body": "C:\\u0000", "to": GR, "from": "ACME"})
    assert response.status_code == 200, response.text
    assert response.json()["body"] == "C:\\u0000"


def test_nul_in_a_csv_import_is_400(tenant: Tenant) -> None:
    csv = b"mobile,firstName\n+306948530920,a\x00b\n"
    response = _post(tenant, "/contacts/my/import", csv, {"Content-Type": "text/csv"})
    assert_error(response, 400, "400000000")


@pytest.mark.parametrize("app_id", ["a\u0000", None])
def test_nul_in_client_credentials_is_bad_credentials(tenant: Tenant, app_id: str | None) -> None:
    data = {"grant_type": "client_credentials", "client_id": app_id or tenant.application_id}
    data["client_secret"] = "x\u0000" if app_id is None else tenant.application_secret
    response = tenant.http.post("/oauth/token", data=data)
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"


def test_token_requests_are_rate_limited_per_application(isolated_database_url: str) -> None:
    from tests.conftest import basic_auth

    container = build_container(Settings(database_url=isolated_database_url))
    # A clock that stands still: no refill while the requests run, however slow the machine is.
    container.token_limiter = RateLimiter(container.token_limiter.policy, clock=lambda: 0.0)
    try:
        new = container.accounts.create_account("limited")
        with TestClient(create_app(container)) as http:

            def token(app_id: str) -> Any:
                return http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    headers=basic_auth(app_id, "wrong secret"),
                )

            for _ in range(container.token_limiter.policy.burst):
                assert token(new.application_id).status_code == 401
            limited = token(new.application_id)
            assert limited.status_code == 429 and limited.json()["code"] == "429000000"
            assert int(limited.headers["Retry-After"]) >= 1
            # another application's attempts are counted apart
            assert token("another-application").status_code == 401
    finally:
        container.close()
