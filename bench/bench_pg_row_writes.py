"""What one row version of ``messages`` costs PostgreSQL's backend, and what the schema changes that were
proposed to cut it would save.

Each message is three row writes on PostgreSQL: the expansion's insert, the claim's update (lease,
attempts, price) and the record's update (``Sent`` or the receipt's status, carrier id). The record
changes indexed columns (``status``, ``carrier_message_id``), so it is a new row version with an entry in
every index; the claim changes none, and with room on the page (fillfactor 50) it is a HOT update. This
benchmark measures, in a scratch database with the real ``messages`` table (``smscast.db.schema``) and
20,000 rows, the backend's CPU time per row (from /proc, the backend's own process) of the insert (one
statement), the claim and the record, for:

- ``as is``: the claim's and the record's updates as the engine runs them (500 rows per transaction);
  ids are ``uuid`` columns (migration 0007), ``ix_messages_dispatch`` holds open parts only (migration
  0006), so a part that becomes ``Delivered`` gets no entry in it;
- ``before 0007``: ids are ``varchar(36)``;
- ``before 0006``: besides, ``ix_messages_dispatch`` on every part, final ones included;
- ``before 0005``: besides, the claim as it was before migration 0005 (status ``Sending``, fillfactor 100):
  a new version with six index entries.

Ids are the expansion's: one time-ordered prefix and a counter (``db.expansion``).

    .venv/bin/python bench/bench_pg_row_writes.py [--rounds 3]
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import alternate_in_postgres, postgres_rounds, print_json_line
from smscast.db.schema import messages

ROWS = 20_000
BATCH = 500
IDS = ("sms_id", "message_id", "account_id", "application_id", "campaign_id")
VARIANTS = ("as is", "before 0007", "before 0006", "before 0005")
PREFIX = "0193f0a4-0000-7000-8000-0000"  # + 8 hex digits of a counter, as the expansion makes them

# ``{id}``: the id columns' type, ``uuid`` or ``varchar``.
CLAIM = (
    "UPDATE messages SET lease_until = now() + interval '2 minutes',"
    " attempts = attempts + 1, price = coalesce(price, 20000) WHERE sms_id = ANY(%s::{id}[])"
)
OLD_CLAIM = CLAIM.replace("SET lease_until", "SET status = 'Sending', lease_until")
RECORD = (
    "UPDATE messages AS m SET status = 'Delivered', detailed_status = 'Delivered', carrier_message_id = v.c,"
    " status_date = now(), submitted_at = now(), delivered_at = now(), lease_until = NULL"
    " FROM unnest(%s::{id}[], %s::varchar[]) AS v(s, c) WHERE m.sms_id = v.s"
)


def _create(url: str, variant: str) -> float:
    """The table of ``variant`` with ROWS queued parts; returns the insert's backend CPU per row (µs)."""
    engine = sa.create_engine(url)
    messages.create(engine)
    engine.dispose()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        if variant == "before 0005":
            conn.execute("ALTER TABLE messages SET (fillfactor = 100)")
        if variant in ("before 0005", "before 0006"):
            conn.execute("DROP INDEX ix_messages_dispatch")
            conn.execute("CREATE INDEX ix_messages_dispatch ON messages (status, not_before)")
        if variant != "as is":
            changes = ", ".join(f"ALTER COLUMN {column} TYPE varchar(36)" for column in IDS)
            conn.execute(f"ALTER TABLE messages {changes}")
        kind = _id_type(variant)
        before = _backend_cpu(conn)
        conn.execute(
            "INSERT INTO messages (sms_id, message_id, account_id, application_id, campaign_id, part, parts,"
            ' "to", sender, country, flash, quiet_hours, held, status, status_date, not_before, attempts,'
            f" created_at) SELECT id, id, '{PREFIX}0000000a'::{kind}, '{PREFIX}0000000b'::{kind},"
            f" '{PREFIX}0000000c'::{kind}, 1, 1, '+3069' || i, 'ACME', 'GR', false, false, false, 'Queued',"
            " now(), now(), 0, now()"
            f" FROM (SELECT ('{PREFIX}' || lpad(to_hex(i), 8, '0'))::{kind} AS id, i"
            " FROM generate_series(16, %s + 15) AS i) AS s",
            (ROWS,),
        )
        insert = (_backend_cpu(conn) - before) / ROWS * 1e6
        conn.execute("VACUUM ANALYZE messages")
        conn.execute("CHECKPOINT")
    return insert


def _id_type(variant: str) -> str:
    return "uuid" if variant == "as is" else "varchar"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _backend_cpu(conn: psycopg.Connection) -> float:
    fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def _per_row(conn: psycopg.Connection, ids: list[str], write: Callable[[list[str]], None]) -> float:
    before = _backend_cpu(conn)
    for start in range(0, len(ids), BATCH):
        with conn.transaction():
            write(ids[start : start + BATCH])
    return (_backend_cpu(conn) - before) / len(ids) * 1e6


def measure(url: str, variant: str) -> dict[str, float]:
    insert = _create(url, variant)
    with psycopg.connect(_libpq(url), autocommit=True, prepare_threshold=None) as conn:
        ids = [row[0] for row in conn.execute("SELECT sms_id::text FROM messages")]
        kind = _id_type(variant)
        claim_sql = (OLD_CLAIM if variant == "before 0005" else CLAIM).format(id=kind)
        record_sql = RECORD.format(id=kind)
        claim = _per_row(conn, ids, lambda chunk: conn.execute(claim_sql, (chunk,)))
        record = _per_row(
            conn,
            ids,
            lambda chunk: conn.execute(record_sql, (chunk, [f"c-{uuid.uuid4().hex}" for _ in chunk])),
        )
        return {"insert": insert, "claim": claim, "record": record}


def main() -> None:
    rounds = postgres_rounds(__doc__)
    if rounds is None:
        return
    figures = alternate_in_postgres(VARIANTS, rounds, measure)
    print(
        f"PostgreSQL backend CPU per row written, {ROWS:,} rows, {BATCH} per transaction, median of {rounds}"
    )
    result: dict[str, object] = {"bench": "pg_row_writes"}
    for variant, medians in figures.items():
        shown = ", ".join(f"{what} {value:5.1f} µs" for what, value in medians.items())
        print(f"  {variant:18s}: {shown}")
        for what, value in medians.items():
            result[f"{variant} {what}"] = value
    print_json_line(result)


if __name__ == "__main__":
    main()
