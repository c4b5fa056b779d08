"""Which database errors mean "the database cannot serve this now" rather than a bug.

A full disk, a read-only database and a database that is down or restarting are conditions of the machine,
not of the request: the API answers them with HTTP 503 ``503000000`` and ``Retry-After`` (``api/errors.py``)
and the engine loops log them in one line and retry (``engine/runner.py``). Anything not recognised here
stays an internal error, logged with its traceback.

`classify` looks at the driver's exception behind SQLAlchemy's ``DBAPIError``:

- sqlite3: the primary result code (``sqlite_errorcode & 0xFF``): ``SQLITE_FULL`` (disk full),
  ``SQLITE_READONLY``, ``SQLITE_IOERR``/``SQLITE_CANTOPEN`` (the file system failed us), ``SQLITE_BUSY``/
  ``SQLITE_LOCKED`` (another process held the write lock past the busy timeout);
- psycopg: the SQLSTATE: ``53100`` disk_full, ``25006`` read_only_sql_transaction (also a hot standby),
  class ``08`` connection exceptions, ``57P01``–``57P03`` shutdown / crash / starting up, ``53300`` too many
  connections; and an ``OperationalError`` without SQLSTATE (connection refused, server closed the
  connection) or a connection SQLAlchemy invalidated.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

import psycopg
import sqlalchemy as sa


class Fault(Enum):
    """Why the database cannot serve a request now; the value is the ``properties.database`` of the 503."""

    DISK_FULL = "diskFull"
    READ_ONLY = "readOnly"
    UNAVAILABLE = "unavailable"


MESSAGES: Final[dict[Fault, str]] = {
    Fault.DISK_FULL: "The database cannot accept writes (disk full); try again later",
    Fault.READ_ONLY: "The database is read-only and cannot accept writes; try again later",
    Fault.UNAVAILABLE: "The database is unavailable; try again later",
}

_SQLITE: Final[dict[int, Fault]] = {
    sqlite3.SQLITE_FULL: Fault.DISK_FULL,
    sqlite3.SQLITE_READONLY: Fault.READ_ONLY,
    sqlite3.SQLITE_IOERR: Fault.UNAVAILABLE,
    sqlite3.SQLITE_CANTOPEN: Fault.UNAVAILABLE,
    sqlite3.SQLITE_BUSY: Fault.UNAVAILABLE,
    sqlite3.SQLITE_LOCKED: Fault.UNAVAILABLE,
}
_POSTGRES: Final[dict[str, Fault]] = {
    "53100": Fault.DISK_FULL,
    "25006": Fault.READ_ONLY,
    "53300": Fault.UNAVAILABLE,  # too_many_connections
    "57P01": Fault.UNAVAILABLE,  # admin_shutdown
    "57P02": Fault.UNAVAILABLE,  # crash_shutdown
    "57P03": Fault.UNAVAILABLE,  # cannot_connect_now (starting up, shutting down, in recovery)
}


@dataclass(frozen=True, slots=True)
class DatabaseFault:
    """A recognised database condition: its kind and one line saying what the driver reported."""

    fault: Fault
    detail: str

    @property
    def message(self) -> str:
        return MESSAGES[self.fault]


def classify(exc: BaseException) -> DatabaseFault | None:
    """The condition ``exc`` reports, or None when it is not one of the database's (a bug, a constraint)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    orig = exc.orig
    fault: Fault | None = None
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        fault = _SQLITE.get(code & 0xFF) if isinstance(code, int) else None
        name = getattr(orig, "sqlite_errorname", None) or type(orig).__name__
    elif isinstance(orig, psycopg.Error):
        state = orig.sqlstate
        fault = _POSTGRES.get(state or "")
        if fault is None and (
            (state or "").startswith("08") or (state is None and isinstance(orig, psycopg.OperationalError))
        ):
            fault = Fault.UNAVAILABLE
        name = f"SQLSTATE {state}" if state else type(orig).__name__
    else:
        name = type(orig).__name__
    if fault is None and exc.connection_invalidated:
        fault = Fault.UNAVAILABLE
    if fault is None:
        return None
    return DatabaseFault(fault, f"{name}: {_first_line(orig or exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(slots=True)
class _Episode:
    started: float
    logged: float
    last: float
    failures: int = 0


class FaultLog:
    """Logs a database condition once when it starts, a reminder every ``remind_s`` while it lasts, and
    (``succeeded``) once when it ends: an outage of minutes is a few lines, not a traceback per retry.
    A failure more than ``remind_s`` after the previous one starts a new episode (for callers that never
    see a success, such as the API's error handler)."""

    def __init__(
        self, logger: logging.Logger, remind_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.remind_s = remind_s
        self.clock = clock
        self._lock = threading.Lock()
        self._episodes: dict[str, _Episode] = {}  # where -> the fault it has been failing with

    def failed(self, where: str, fault: DatabaseFault, retry_s: float | None = None) -> None:
        now = self.clock()
        with self._lock:
            episode = self._episodes.get(where)
            first = episode is None or now - episode.last > self.remind_s
            if episode is None or first:
                episode = self._episodes[where] = _Episode(now, now, now)
            episode.last = now
            episode.failures += 1
            remind = not first and now - episode.logged >= self.remind_s
            if remind:
                episode.logged = now
            started, failures = episode.started, episode.failures
        if first:
            retry = f"; retrying every {retry_s:g} s" if retry_s else ""
            self.logger.warning("%s: %s (%s)%s", where, fault.message, fault.detail, retry)
        elif remind:
            self.logger.warning(
                "%s: still failing, %d times in %.0f s: %s (%s)",
                where,
                failures,
                now - started,
                fault.message,
                fault.detail,
            )

    def failure(self, where: str, exc: BaseException, retry_s: float | None = None) -> None:
        """Log ``exc`` raised at ``where``: a database condition the `failed` way, anything else with its
        traceback (a bug must not hide behind the throttling)."""
        fault = classify(exc)
        if fault is not None:
            self.failed(where, fault, retry_s)
        else:
            retry = f"; retrying in {retry_s:g} s" if retry_s else "; retrying"
            self.logger.error("%s failed%s", where, retry, exc_info=exc)

    def succeeded(self, where: str) -> None:
        """The database answered ``where`` again: one line if it had been failing."""
        if where not in self._episodes:  # the common case: no lock, nothing to say
            return
        with self._lock:
            episode = self._episodes.pop(where, None)
        if episode is not None:
            self.logger.info(
                "%s: the database answers again (%d failed attempt%s in %.1f s)",
                where,
                episode.failures,
                "" if episode.failures == 1 else "s",
                self.clock() - episode.started,
            )
