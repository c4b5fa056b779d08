"""A database that is full or read-only answers HTTP 503 ``503000000`` with ``Retry-After``, in Routee's
error shape, never a 500; reads go on; writes work again once it is fixed (docs/routee-compat.md).

The databases are real: a SQLite file on a small tmpfs filled to the last byte, PostgreSQL with
``default_transaction_read_only``, a SQLite file opened read-only. The whole server under these faults, with
a campaign being sent, is ``tests/e2e/test_database_faults.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.conftest import (
    POSTGRES_ADMIN_URL,
    TEST_DATABASE,
    Tenant,
    _migrate,
    app_over,
    assert_error,
    new_tenant,
)
from tests.fixtures.tmpfs import small_tmpfs


def contact() -> dict[str, str]:
    return {"mobile": f"+3069{uuid.uuid4().int % 10**8:08d}", "firstName": "Disk"}


def assert_unavailable(response: Any, fault: str) -> None:
    body = assert_error(response, 503, "503000000")
    assert body["properties"] == {"database": fault}
    assert body["developerMessage"].endswith("try again later")
    assert response.headers["Retry-After"] == "5"


def assert_reads_answer(tenant: Tenant) -> None:
    assert tenant.get("/contacts/my").status_code == 200
    assert tenant.get("/accounts/me/balance").status_code == 200
    assert tenant.get("/campaigns").status_code == 200


def test_disk_full_answers_503_and_reads_go_on(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size_mb=16) as disk:
        path = disk.path / "smscast.db"
        url = f"sqlite:///{path}"
        _migrate(url)
        with app_over(url) as (container, http):
            tenant = new_tenant(container, http)
            assert tenant.post("/contacts/my", json=contact()).status_code == 200
            # An empty WAL: the next write must grow a file, so it is the one the full disk refuses.
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            disk.fill()

            assert_unavailable(tenant.post("/contacts/my", json=contact()), "diskFull")
            assert_reads_answer(tenant)
            token = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(tenant.application_id, tenant.application_secret),
            )
            assert_unavailable(token, "diskFull")  # a token is a row too

            disk.free()
            assert tenant.post("/contacts/my", json=contact()).status_code == 200
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2


@contextlib.contextmanager
def read_only(database_url: str) -> Iterator[tuple[str, Callable[[], None] | None]]:
    """(a URL, a function making the database writable again). PostgreSQL: the database turns read-only
    for the sessions opened from now on (a standby after a failover is the same to its clients), and
    writable when the function is called or the block ends. SQLite: the same file opened read-only (a file
    cannot be made read-only under a process that has it open), and no way back."""
    if TEST_DATABASE != "postgresql":
        yield f"sqlite:///file:{sa.engine.make_url(database_url).database}?mode=ro&uri=true", None
        return
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def alter(setting: str) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" {setting}')

    alter("SET default_transaction_read_only = on")
    try:
        yield database_url, lambda: alter("RESET default_transaction_read_only")
    finally:
        alter("RESET default_transaction_read_only")
        admin.dispose()


def test_read_only_database_answers_503_and_reads_go_on(isolated_database_url: str) -> None:
    # The account is made while the database is writable (SQLite's read-only view also needs the open
    # writer's WAL index beside the file).
    with app_over(isolated_database_url) as (writable, writable_http):
        tenant = new_tenant(writable, writable_http)
        with read_only(isolated_database_url) as (url, make_writable), app_over(url) as (_, http):
            reader = Tenant(http, tenant.account_id, tenant.application_id, "", tenant.token)
            assert_unavailable(reader.post("/contacts/my", json=contact()), "readOnly")
            assert_reads_answer(reader)
            if make_writable is None:
                return
            # Writable again, and the server was not restarted: its pooled sessions are still read-only
            # (a session takes the setting when it opens); the first write refused drops them
            # (db/database.py), so the next one works.
            make_writable()
            answers = [reader.post("/contacts/my", json=contact()).status_code for _ in range(2)]
            assert answers[-1] == 200, answers
