"""Helpers the contact, blacklist and group repositories share: IN lists in chunks, unique-key violations
as one exception on both backends, inserts that skip existing keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

# Bound parameters per IN list: far below SQLite's 32,766 and cheap for PostgreSQL.
CHUNK: Final = 5000

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class UniqueViolation(Exception):
    """A unique key rejected a write: a concurrent request stored the same mobile, group or label name
    between this transaction's check and its insert (PostgreSQL; SQLite serialises writers). The
    transaction is unusable afterwards: let it roll back."""


@contextmanager
def unique_guard() -> Iterator[None]:
    """Turn a unique-key ``IntegrityError`` into ``UniqueViolation`` (other integrity errors pass)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig):
            raise UniqueViolation(str(exc.orig)) from exc
        raise


def insert_ignoring_duplicates(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose key exists (``ON CONFLICT DO NOTHING``, both backends)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))
