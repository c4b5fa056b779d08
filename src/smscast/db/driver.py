"""What statements handed to the DB-API driver as they are need: the per-part writes of the message queue
(``dispatch``: one statement per outcome, the parts as one JSON parameter) and of the receipt inbox
(``receipts``: ``executemany`` of plain tuples on SQLite, one statement over arrays on PostgreSQL), and
lists of values bound as one JSON parameter (``listed``). At thousands of parts per second, SQLAlchemy's
per-row parameter processing was most of their cost. Where even a statement through SQLAlchemy costs too
much (the claim's rows, COPY), ``driver_cursor`` is the driver's own cursor with SQLAlchemy's error handling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect

from smscast.db.database import session_is_stale
from smscast.db.schema import messages, receipt_inbox


@cache
def binder(dialect: Dialect, table: str, column: str) -> Callable[[Any], Any]:
    """How a value of ``table.column`` is handed to the driver (the column type's bind processing)."""
    col = (messages if table == "messages" else receipt_inbox).c[column]
    process = col.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def driver_sql(dialect: Dialect, sql: str) -> str:
    """``sql`` written with ``?`` markers, in the driver's own parameter style."""
    return sql if dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def is_postgres(dialect: Dialect) -> bool:
    # PostgreSQL gets one statement per batch (over JSON or arrays): executemany would be one statement per
    # row on the server.
    return dialect.name == "postgresql"


def listed(dialect: Dialect, values: Sequence[str]) -> tuple[sa.TableValuedAlias, sa.ColumnElement[Any]]:
    """``values`` as a table (``json_each`` on SQLite, ``json_array_elements_text … WITH ORDINALITY`` on
    PostgreSQL) bound as one JSON text parameter, and the column numbering them from 1 in their order; its
    ``value`` column holds them. Not an array on PostgreSQL: psycopg quotes each element of a text array
    with a regular expression (20,000 numbers: ~10 ms of a POST /sms/campaign); not an IN list: SQLAlchemy
    renders a placeholder per value."""
    text = sa.literal(orjson.dumps(list(values)).decode(), sa.Text())
    if dialect.name == "postgresql":
        table = (
            sa.func.json_array_elements_text(sa.cast(text, postgresql.JSON))
            .table_valued("value", with_ordinality="rn")
            .render_derived()  # AS anon(value, rn): names the ordinality column
        )
        return table, table.c.rn
    table = sa.func.json_each(text).table_valued("key", "value")
    return table, table.c.key + 1


@contextlib.contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """The DB-API driver's own cursor, in ``conn``'s transaction. Its errors leave the way SQLAlchemy's own
    statements' do: the driver's error wrapped in a ``DBAPIError``, the connection invalidated when the
    error says it is gone or, as the engine's ``handle_error`` hook decides, can never write again.
    Everything above the db layer (the engine's fault log, the API's error answers) recognises the
    database's conditions (disk full, read-only, down) only in that form: a bare
    ``psycopg.errors.DiskFull`` from the claim was logged as a bug, with its traceback, on every retry."""
    fairy = conn.connection
    dialect = conn.dialect
    dbapi_error: Any = dialect.loaded_dbapi.Error
    cursor = fairy.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi_error as exc:
        gone = dialect.is_disconnect(exc, fairy.dbapi_connection, cursor) or session_is_stale(exc)
        if gone and not conn.invalidated:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            None, None, exc, dbapi_error, connection_invalidated=gone, dialect=dialect
        ) from exc
    finally:
        with contextlib.suppress(Exception):  # a cursor of a connection that is gone
            cursor.close()
