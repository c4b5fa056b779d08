"""`driver_cursor`: statements on the driver's own cursor fail the way SQLAlchemy's do, so the database's
conditions are recognised (the engine logs one line per fault, the API answers 503) and a connection that is
gone is not handed out again. A bare ``psycopg.errors.DiskFull`` from the claim was logged with a traceback
on every retry of a disk-full fault."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.database import Database
from smscast.db.driver import driver_cursor
from smscast.db.errors import Fault, classify


def _error(db: Database, statement: str, *, read_only: bool = False) -> sa.exc.DBAPIError:
    """What ``statement`` on the driver cursor of a write transaction raises (SQLite: ``read_only`` by
    ``PRAGMA query_only``, undone before the connection goes back to the pool)."""
    try:
        with db.write() as conn:
            if read_only:
                conn.exec_driver_sql("PRAGMA query_only = ON")
            try:
                with driver_cursor(conn) as cursor:
                    cursor.execute(statement)
            finally:
                if read_only:
                    conn.exec_driver_sql("PRAGMA query_only = OFF")
    except sa.exc.DBAPIError as exc:
        return exc
    raise AssertionError(f"{statement} did not fail")


def test_a_database_condition_on_the_driver_cursor_is_recognised(
    isolated: tuple[Container, TestClient],
) -> None:
    db = isolated[0].db
    if db.is_sqlite:
        error = _error(
            db, "INSERT INTO accounts (id) VALUES ('35232dc2-2bf2-4a23-97d1-d506a3a7d224')", read_only=True
        )
        expected = Fault.READ_ONLY
    else:
        error = _error(db, "DO $$ BEGIN RAISE EXCEPTION 'no room' USING ERRCODE = 'disk_full'; END $$")
        expected = Fault.DISK_FULL
    fault = classify(error)
    assert fault is not None and fault.fault is expected, error
    assert not error.connection_invalidated
    with db.write() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_a_bug_on_the_driver_cursor_is_not_a_database_condition(
    isolated: tuple[Container, TestClient],
) -> None:
    assert classify(_error(isolated[0].db, "SELECT * FROM no_such_table")) is None


def test_a_connection_lost_on_the_driver_cursor_is_not_used_again(
    isolated: tuple[Container, TestClient],
) -> None:
    db = isolated[0].db
    if db.is_sqlite:
        pytest.skip("PostgreSQL: a server that ends the connection")
    error = _error(db, "SELECT pg_terminate_backend(pg_backend_pid())")
    assert error.connection_invalidated
    fault = classify(error)
    assert fault is not None and fault.fault is Fault.UNAVAILABLE
    for _ in range(5):  # whichever pooled connection comes next, it is a live one
        with db.write() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_a_read_only_session_on_the_driver_cursor_is_not_used_again(
    isolated: tuple[Container, TestClient],
) -> None:
    """As the engine's ``handle_error`` hook does for SQLAlchemy's statements: a session that cannot write
    (a standby after a failover) is dropped, not handed to the next writer."""
    db = isolated[0].db
    if db.is_sqlite:
        pytest.skip("PostgreSQL: a read-only session")
    error = _error(
        db,
        "SET transaction_read_only = on;"
        " INSERT INTO accounts (id) VALUES ('35232dc2-2bf2-4a23-97d1-d506a3a7d224')",
    )
    fault = classify(error)
    assert fault is not None and fault.fault is Fault.READ_ONLY
    assert error.connection_invalidated
