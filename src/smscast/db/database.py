"""Engine construction and transaction scopes for SQLite and PostgreSQL.

``Database.write()`` opens a read-write transaction; ``Database.read()`` a read-only one. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of one
failing when it upgrades its read lock; reads stay deferred so they never wait for a writer (WAL mode).
Within one process, SQLite writers also queue on a lock of their own: SQLite's busy handler polls with
sleeps of up to 100 ms, so threads contending for the write lock through it waste most of their time
asleep; a waiter on the in-process lock starts the moment the previous writer commits. (The busy timeout
still arbitrates between processes.) A write marked ``background`` (a campaign's expansion, hundreds of
milliseconds of chunks) lets every foreground writer that is waiting (a dispatcher's claim or record) go
first (for up to `BACKGROUND_WAIT_S`): the carrier is kept fed while a big campaign is being written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
BACKGROUND_WAIT_S = 0.05  # the longest a background write lets waiting writers go first


class WriteTurns:
    """The in-process write lock of SQLite. Re-entrant: a nested write in one thread fails on SQLite's busy
    timeout as before, not a deadlock. When it is released, a waiting foreground writer takes it before any
    background one, unless that one has waited `BACKGROUND_WAIT_S` already: then it goes next."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self.foreground_waiting = 0
        self._overdue = 0  # background writers past their wait, to go next

    def acquire(self, background: bool) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return
            if background:
                deadline = time.monotonic() + BACKGROUND_WAIT_S
                while self._owner is not None or self.foreground_waiting:
                    left = deadline - time.monotonic()
                    if left <= 0:  # overdue: the next turn is this writer's
                        self._overdue += 1
                        try:
                            while self._owner is not None:
                                self._changed.wait()
                        finally:
                            self._overdue -= 1
                        break
                    self._changed.wait(left)
            else:
                self.foreground_waiting += 1
                try:
                    while self._owner is not None or self._overdue:
                        self._changed.wait()
                finally:
                    self.foreground_waiting -= 1
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._changed:
            self._depth -= 1
            if not self._depth:
                self._owner = None
                self._changed.notify_all()


class Database:
    """Owns one SQLAlchemy engine. Thread-safe; create one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo)
        self._write_turns: WriteTurns | None = WriteTurns() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self, *, background: bool = False) -> Iterator[Connection]:
        """A transaction that commits when the block ends normally and rolls back on an exception.
        ``background``: on SQLite, start only once no other writer of this process is waiting."""
        # The lock first: threads queueing for it hold no pooled connection meanwhile.
        with self._locked(background), self.engine.connect() as conn:
            conn.execution_options(smscast_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _locked(self, background: bool) -> Iterator[None]:
        turns = self._write_turns
        if turns is None:
            yield
            return
        turns.acquire(background)
        try:
            yield
        finally:
            turns.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction for reading; nothing written in it is kept."""
        with self.engine.connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def create_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the per-backend settings smscast relies on (WAL, foreign keys, pool sizes)."""
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=8,
        )
        _install_sqlite_hooks(engine)
        return engine
    engine = sa.create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)
    _install_postgres_hooks(engine)
    return engine


def _ensure_sqlite_folder(url: str) -> None:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def session_is_stale(exc: BaseException) -> bool:
    """Whether ``exc`` (the driver's) means this PostgreSQL session can never write again, though it is
    still connected. A read-only session (a standby after a failover, default_transaction_read_only) stays
    read-only for its life: it is treated like a lost connection, so the pool drops it and the connections
    opened before it, and the next write gets a session of the server as it is now."""
    return getattr(exc, "sqlstate", None) == "25006"


def _install_postgres_hooks(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Ids are ``uuid`` columns (``types.Id``) but ``str`` everywhere in smscast: statements run on the
        # driver's own cursor get them as text too, not as ``uuid.UUID`` objects.
        from psycopg.types.string import TextLoader

        dbapi_connection.adapters.register_loader("uuid", TextLoader)

    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: sa.engine.ExceptionContext) -> None:
        if session_is_stale(context.original_exception):
            context.is_disconnect = True


def _install_sqlite_hooks(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("smscast_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
