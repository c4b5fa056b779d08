"""`smscast.db.errors`: which driver errors are the database's conditions (full, read-only, down), and how
often they are logged."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import psycopg
import psycopg.errors as pg
import pytest
import sqlalchemy as sa

from smscast.db.errors import MESSAGES, DatabaseFault, Fault, FaultLog, classify
from tests.process_harness import free_port


def sqlite_error(tmp_path: Path, statement: str, *, read_only: bool = False) -> sa.exc.DBAPIError:
    """The error SQLAlchemy raises for ``statement`` on a real SQLite file."""
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as made:
        made.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if read_only else f"sqlite:///{path}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement} did not fail")


def test_a_read_only_sqlite_file(tmp_path: Path) -> None:
    fault = classify(sqlite_error(tmp_path, "INSERT INTO t VALUES (1)", read_only=True))
    assert fault is not None and fault.fault is Fault.READ_ONLY
    assert fault.detail == "SQLITE_READONLY: attempt to write a readonly database"


def test_constraint_violations_and_bugs_are_not_database_conditions(tmp_path: Path) -> None:
    assert classify(sqlite_error(tmp_path, "INSERT INTO t VALUES (1), (1)")) is None
    assert classify(sqlite_error(tmp_path, "SELECT * FROM missing")) is None
    assert classify(ValueError("not a database error")) is None
    duplicate = sa.exc.IntegrityError("INSERT", {}, pg.UniqueViolation("duplicate key"))
    assert classify(duplicate) is None


def test_postgres_that_does_not_answer() -> None:
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    with pytest.raises(sa.exc.OperationalError) as refused:
        engine.connect()
    fault = classify(refused.value)
    assert fault is not None and fault.fault is Fault.UNAVAILABLE
    assert fault.detail.startswith("OperationalError: connection failed")


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (pg.DiskFull, Fault.DISK_FULL),
        (pg.ReadOnlySqlTransaction, Fault.READ_ONLY),
        (pg.AdminShutdown, Fault.UNAVAILABLE),
        (pg.CrashShutdown, Fault.UNAVAILABLE),
        (pg.CannotConnectNow, Fault.UNAVAILABLE),
        (pg.TooManyConnections, Fault.UNAVAILABLE),
        (pg.ConnectionFailure, Fault.UNAVAILABLE),
        (psycopg.OperationalError, Fault.UNAVAILABLE),  # no SQLSTATE: the connection is gone
    ],
)
def test_postgres_sqlstates(error: type[psycopg.Error], fault: Fault) -> None:
    found = classify(sa.exc.OperationalError("UPDATE", {}, error("what the server said")))
    assert found == DatabaseFault(fault, found.detail if found else "")
    assert found is not None and found.detail.endswith(": what the server said")
    assert found.message == MESSAGES[fault]


def test_other_postgres_errors_are_not_database_conditions() -> None:
    for error in (pg.SerializationFailure, pg.DeadlockDetected, pg.QueryCanceled, pg.UndefinedTable):
        assert classify(sa.exc.OperationalError("UPDATE", {}, error("x"))) is None


FULL = DatabaseFault(Fault.DISK_FULL, "SQLITE_FULL: database or disk is full")


def test_a_fault_is_logged_when_it_starts_and_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultLog(logging.getLogger("test.faults"))
    with caplog.at_level(logging.INFO, "test.faults"):
        for _ in range(500):
            faults.failed("dispatcher 0 record", FULL, 1.0)
            faults.failed("scheduler", FULL, 0.5)
        faults.succeeded("dispatcher 0 record")
        faults.succeeded("dispatcher 0 record")  # nothing more to say
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "dispatcher 0 record: The database cannot accept writes (disk full); try again later "
        "(SQLITE_FULL: database or disk is full); retrying every 1 s",
        "scheduler: The database cannot accept writes (disk full); try again later "
        "(SQLITE_FULL: database or disk is full); retrying every 0.5 s",
        lines[2],
    ]
    assert lines[2].startswith("dispatcher 0 record: the database answers again (500 failed attempts in")
    assert all(record.exc_info is None for record in caplog.records)


def test_a_long_fault_is_recalled_and_a_later_one_is_new(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    faults = FaultLog(logging.getLogger("test.faults"), remind_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "test.faults"):
        for now[0] in (0, 30, 59, 61, 90, 121.5, 300):  # an answer at 300 s: a new outage
            faults.failed("API", FULL)
    assert [r.getMessage().split(": ")[1] for r in caplog.records] == [
        "The database cannot accept writes (disk full); try again later (SQLITE_FULL",
        "still failing, 4 times in 61 s",
        "still failing, 6 times in 122 s",
        "The database cannot accept writes (disk full); try again later (SQLITE_FULL",
    ]


def test_anything_else_keeps_its_traceback(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    faults = FaultLog(logging.getLogger("test.faults"))
    bug = sqlite_error(tmp_path, "SELECT * FROM missing")
    with caplog.at_level(logging.INFO, "test.faults"):
        faults.failure("scheduler", bug, 0.5)
        faults.failure("scheduler", bug, 0.5)
        faults.succeeded("scheduler")
    assert [r.getMessage() for r in caplog.records] == ["scheduler failed; retrying in 0.5 s"] * 2
    assert all(r.exc_info is not None and r.levelno == logging.ERROR for r in caplog.records)
