"""What a schema whose updates are all HOT would save PostgreSQL per part (measured and left out: see
docs/performance.md, item 41's notes).

``as is``: ``messages`` as migration 0007 leaves it (five indexes; ``status`` in two of them, the carrier
id in one), so the record and a receipt that comes after it are new row versions with an entry in every
index. ``all HOT``: ``status`` and the carrier id in no index of ``messages`` (its campaign index on
``campaign_id`` alone), the queue in a narrow table of its own (``sms_id, not_before, lease_until``, the
row deleted when its part is recorded) and carrier ids in an insert-only table: the claim, the record and
the receipt change no indexed column of ``messages``.

Plain SQL in a scratch database, 20,000 parts with the expansion's time-ordered ids, 500 per transaction,
parts found by primary key as the engine does (`dispatch.DispatchRepository._parts_by_key`). Prints the
backend's CPU per part (from /proc) for the insert, the claim, the record (``Sent`` and the carrier id)
and a receipt applied on its own (``Delivered``: what real SMSCs cause, seconds after the record; in
``bench_e2e.py`` 89 % of receipts ride with the record instead).

    .venv/bin/python bench/bench_pg_all_hot.py [--rounds 3]
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import alternate_in_postgres, postgres_rounds, print_json_line

ROWS = 20_000
BATCH = 500
DESIGNS = ("as is", "all HOT")
PREFIX = "0193f0a4-0000-7000-8000-0000"  # + 8 hex digits of a counter, as the expansion makes them
STEPS = ("insert", "claim", "record", "receipt")

COLUMNS = """sms_id uuid PRIMARY KEY, message_id uuid NOT NULL, account_id uuid NOT NULL,
 application_id uuid NOT NULL, campaign_id uuid, part int NOT NULL, parts int NOT NULL,
 "to" varchar(20) NOT NULL, sender varchar(16) NOT NULL, country varchar(2) NOT NULL, body text,
 label varchar(20), flash bool NOT NULL, groups text, callback text, quiet_hours bool NOT NULL DEFAULT false,
 held bool NOT NULL DEFAULT false, status varchar(12) NOT NULL, detailed_status varchar(30),
 status_date timestamptz NOT NULL, price bigint, carrier_message_id varchar(64),
 not_before timestamptz NOT NULL, expires_at timestamptz, lease_until timestamptz,
 attempts int NOT NULL DEFAULT 0, created_at timestamptz NOT NULL, submitted_at timestamptz,
 delivered_at timestamptz"""

INSERT = f"""INSERT INTO messages (sms_id, message_id, account_id, application_id, campaign_id, part, parts,
 "to", sender, country, flash, status, status_date, not_before, created_at)
 SELECT id, id, '{PREFIX}0000000a', '{PREFIX}0000000b', '{PREFIX}0000000c', 1, 1, '+3069' || i, 'ACME', 'GR',
 false, 'Queued', now(), now(), now()
 FROM (SELECT ('{PREFIX}' || lpad(to_hex(i), 8, '0'))::uuid AS id, i
       FROM generate_series(16, %s + 15) AS i) AS s"""


def _create(conn: psycopg.Connection, design: str) -> None:
    conn.execute(f"CREATE TABLE messages ({COLUMNS}) WITH (fillfactor = 50)")
    conn.execute("CREATE INDEX ON messages (message_id)")
    conn.execute("CREATE INDEX ON messages (account_id, created_at)")
    if design == "as is":
        conn.execute("CREATE INDEX ON messages (campaign_id, status)")
        conn.execute("CREATE INDEX ON messages (carrier_message_id) WHERE carrier_message_id IS NOT NULL")
        conn.execute("CREATE INDEX ON messages (status, not_before) WHERE status IN ('Queued', 'Sent')")
        return
    conn.execute("CREATE INDEX ON messages (campaign_id)")
    conn.execute(
        "CREATE TABLE queue (sms_id uuid PRIMARY KEY, not_before timestamptz NOT NULL,"
        " lease_until timestamptz) WITH (fillfactor = 50)"
    )
    conn.execute("CREATE INDEX ON queue (not_before)")
    conn.execute(
        "CREATE TABLE carrier_ids (carrier_message_id varchar(64) PRIMARY KEY, sms_id uuid NOT NULL,"
        " submitted_at timestamptz NOT NULL)"
    )


def _backend_cpu(conn: psycopg.Connection) -> float:
    fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def measure(url: str, design: str) -> dict[str, float]:
    """Backend CPU per part (µs) of each step, ``design``'s schema."""
    spent = dict.fromkeys(STEPS, 0.0)
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True, prepare_threshold=None) as conn:
        _create(conn, design)
        before = _backend_cpu(conn)
        conn.execute(INSERT, (ROWS,))
        if design == "all HOT":
            conn.execute("INSERT INTO queue SELECT sms_id, not_before, NULL FROM messages")
        spent["insert"] = _backend_cpu(conn) - before
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
        for plan in ("hashjoin", "mergejoin", "seqscan", "material"):  # by primary key, as the engine
            conn.execute(f"SET enable_{plan} = off")
        ids = [row[0] for row in conn.execute("SELECT sms_id::text FROM messages ORDER BY sms_id")]
        batches = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]
        for step in ("claim", "record", "receipt"):
            before = _backend_cpu(conn)
            for batch in batches:
                with conn.transaction():
                    _step(conn, design, step, batch)
            spent[step] = _backend_cpu(conn) - before
    return {step: seconds / ROWS * 1e6 for step, seconds in spent.items()}


def _step(conn: psycopg.Connection, design: str, step: str, batch: list[str]) -> None:
    if step == "claim":
        if design == "all HOT":
            conn.execute(
                "UPDATE queue SET lease_until = now() + interval '2 minutes' WHERE sms_id = ANY(%s::uuid[])",
                (batch,),
            )
        conn.execute(
            "UPDATE messages SET attempts = attempts + 1, price = coalesce(price, 20000)"
            + (", lease_until = now() + interval '2 minutes'" if design == "as is" else "")
            + " WHERE sms_id = ANY(%s::uuid[])",
            (batch,),
        )
    elif step == "record":
        carrier_ids = [uuid.uuid4().hex[:10] for _ in batch]
        conn.execute(
            "UPDATE messages AS m SET status = 'Sent', detailed_status = 'Sent', carrier_message_id = v.c,"
            " status_date = now(), submitted_at = now(), lease_until = NULL"
            " FROM unnest(%s::uuid[], %s::varchar[]) AS v(s, c) WHERE m.sms_id = v.s",
            (batch, carrier_ids),
        )
        if design == "all HOT":
            conn.execute(
                "INSERT INTO carrier_ids SELECT c, s, now()"
                " FROM unnest(%s::uuid[], %s::varchar[]) AS v(s, c)",
                (batch, carrier_ids),
            )
            conn.execute("DELETE FROM queue WHERE sms_id = ANY(%s::uuid[])", (batch,))
    else:
        conn.execute(
            "UPDATE messages SET status = 'Delivered', detailed_status = 'Delivered', status_date = now(),"
            " delivered_at = now() WHERE sms_id = ANY(%s::uuid[])",
            (batch,),
        )


def main() -> None:
    rounds = postgres_rounds(__doc__)
    if rounds is None:
        return
    figures = alternate_in_postgres(DESIGNS, rounds, measure)
    print(f"PostgreSQL backend CPU per part, {ROWS:,} parts, {BATCH} per transaction, median of {rounds}")
    result: dict[str, object] = {"bench": "pg_all_hot"}
    for design, medians in figures.items():
        shown = ", ".join(f"{step} {value:5.1f} µs" for step, value in medians.items())
        bench_case = sum(medians[step] for step in ("insert", "claim", "record"))
        print(
            f"  {design:8s}: {shown}; all four {sum(medians.values()):5.1f} µs, without the receipt's own"
            f" update (as in bench_e2e.py) {bench_case:5.1f} µs"
        )
        for step, value in medians.items():
            result[f"{design} {step}"] = value
    print_json_line(result)


if __name__ == "__main__":
    main()
