"""Statements handed to the DB-API driver as they are, for the per-part writes of the message queue
(``dispatch``) and the receipt inbox (``receipts``).

They go to the driver's ``executemany`` as plain tuples: at thousands of parts per second, SQLAlchemy's
per-row parameter processing was most of their cost. PostgreSQL gets one statement per batch over arrays
(``unnest``) instead: executemany would be one statement per row on the server.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy.engine import Dialect

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
    # PostgreSQL gets one statement per batch over arrays (unnest): executemany would be one statement
    # per row on the server.
    return dialect.name == "postgresql"
