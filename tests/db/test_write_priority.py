"""SQLite's single writer: a background write (a campaign's expansion) lets the foreground writers that are
waiting (a dispatcher's claim or record) go first, for a bounded time."""

from __future__ import annotations

import threading
import time

import pytest

from smscast.db import database
from smscast.db.database import Database


@pytest.fixture
def db(tmp_path: object) -> Database:
    built = Database(f"sqlite:///{tmp_path}/w.db")
    yield built  # type: ignore[misc]
    built.dispose()


def _writer(db: Database, name: str, order: list[str], background: bool) -> threading.Thread:
    def run() -> None:
        with db.write(background=background):
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _waiting_foreground(db: Database, count: int) -> None:
    deadline = time.monotonic() + 10
    turns = db._write_turns  # the test waits for the queue to form
    assert turns is not None
    while turns.foreground_waiting != count:
        assert time.monotonic() < deadline, "the writers did not queue"
        time.sleep(0.001)


def test_a_waiting_foreground_writer_goes_before_a_background_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BACKGROUND_WAIT_S", 30.0)
    order: list[str] = []
    with db.write():  # held while both queue
        background = _writer(db, "background", order, background=True)
        time.sleep(0.05)  # the background writer asked first
        foreground = _writer(db, "foreground", order, background=False)
        _waiting_foreground(db, 1)
    foreground.join(10)
    background.join(10)
    assert order == ["foreground", "background"]


def test_a_background_writer_that_waited_long_enough_goes_next(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BACKGROUND_WAIT_S", 0.01)
    order: list[str] = []
    with db.write():
        background = _writer(db, "background", order, background=True)
        time.sleep(0.05)
        foreground = _writer(db, "foreground", order, background=False)
        _waiting_foreground(db, 1)
    foreground.join(10)
    background.join(10)
    assert order == ["background", "foreground"]


def test_a_background_writer_is_not_held_back_for_ever(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BACKGROUND_WAIT_S", 0.05)
    stop = threading.Event()
    end = time.monotonic() + 5

    def stream() -> None:  # two of these: a foreground writer is always waiting (for 5 s at most)
        while not stop.is_set() and time.monotonic() < end:
            with db.write():
                time.sleep(0.005)

    streams = [threading.Thread(target=stream) for _ in range(2)]
    for thread in streams:
        thread.start()
    try:
        _waiting_foreground(db, 1)
        started = time.monotonic()
        with db.write(background=True):
            waited = time.monotonic() - started
    finally:
        stop.set()
        for thread in streams:
            thread.join(10)
    assert waited < 2.0  # ~BACKGROUND_WAIT_S and a write; without the bound, until the streams end


def test_postgres_style_databases_have_no_lock_to_order(tmp_path: object) -> None:
    # Without the in-process lock (PostgreSQL), background writes start at once.
    built = Database(f"sqlite:///{tmp_path}/p.db")
    built._write_turns = None  # as on PostgreSQL
    try:
        with built.write(background=True) as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        built.dispose()
