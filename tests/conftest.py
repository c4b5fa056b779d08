"""Shared fixtures. Database tests run on SQLite by default and on PostgreSQL with
``SMSCAST_TEST_DATABASE=postgresql`` (``make test`` does both). Any test that uses ``database_url`` (directly
or through ``container``/``api``) is marked ``db`` automatically."""

from __future__ import annotations

import base64
import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import Container, build_container, migrate
from smscast.domain.clock import Clock
from smscast.settings import Settings

TEST_DATABASE = os.environ.get("SMSCAST_TEST_DATABASE", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "SMSCAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_report_header() -> str:
    return f"smscast test database: {TEST_DATABASE}"


def _postgres_database(name: str) -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PostgreSQL is required in CI but unreachable: {exc}") from exc
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    if TEST_DATABASE == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'smscast.db'}"
        _migrate(url)
        yield url
    elif TEST_DATABASE == "postgresql":
        for url in _postgres_database(f"smscast_test_{uuid.uuid4().hex[:12]}"):
            _migrate(url)
            yield url
    else:
        raise RuntimeError(f"SMSCAST_TEST_DATABASE={TEST_DATABASE!r}: sqlite or postgresql")


@pytest.fixture
def isolated_database_url(database_url: str, tmp_path: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this test's own, for tests that run the engine over everything queued (the shared
    session database holds other tests' campaigns). Depends on ``database_url`` so it is marked ``db``."""
    if TEST_DATABASE == "sqlite":
        url = f"sqlite:///{tmp_path}/isolated.db"  # type: ignore[str-bytes-safe]
        _migrate(url)
        yield url
    else:
        for url in _postgres_database(f"smscast_iso_{uuid.uuid4().hex[:12]}"):
            _migrate(url)
            yield url


@contextlib.contextmanager
def app_over(url: str, clock: Clock | None = None) -> Iterator[tuple[Container, TestClient]]:
    """A container over the database at ``url`` (on ``clock``, else the system's) and a test client of the
    app serving it."""
    built = build_container(Settings(database_url=url), clock=clock)
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as client:
            yield built, client
    finally:
        built.close()


@pytest.fixture
def isolated(isolated_database_url: str) -> Iterator[tuple[Container, TestClient]]:
    """A container and test client over a database of this test's own."""
    with app_over(isolated_database_url) as pair:
        yield pair


def _migrate(url: str) -> None:
    container = build_container(Settings(database_url=url))
    try:
        migrate(container)
    finally:
        container.close()


@pytest.fixture(scope="session")
def container(database_url: str) -> Iterator[Container]:
    built = build_container(Settings(database_url=database_url))
    yield built
    built.close()


@pytest.fixture(scope="session")
def http(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client


@dataclass
class Tenant:
    """One account with an application and a token holding every scope, talking to the test app."""

    http: TestClient
    account_id: str
    application_id: str
    application_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(path, headers=self.headers, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.http.put(path, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.http.request("DELETE", path, headers=self.headers, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Any:
        return self.http.head(path, headers=self.headers, **kwargs)


def basic_auth(application_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{application_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def new_tenant(container: Container, http: TestClient, balance: str = "1000", scope: str = "") -> Tenant:
    new = container.accounts.create_account(f"t-{uuid.uuid4().hex[:8]}", Decimal(balance))
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth(new.application_id, new.application_secret),
    )
    assert response.status_code == 200, response.text
    return Tenant(
        http, new.account_id, new.application_id, new.application_secret, response.json()["access_token"]
    )


@pytest.fixture
def tenant(container: Container, http: TestClient) -> Tenant:
    return new_tenant(container, http)


@pytest.fixture
def other_tenant(container: Container, http: TestClient) -> Tenant:
    return new_tenant(container, http)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a Routee error with ``status`` (and ``code``); returns its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, body
        assert isinstance(body["developerMessage"], str) and body["developerMessage"]
    return body
