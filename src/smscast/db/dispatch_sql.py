"""The dispatcher's hand-written statements (`dispatch.DispatchRepository`), for each database.

They are text, not SQLAlchemy constructs, because each is run thousands of times a minute with parameters
the driver takes as they are: the parts of a batch as one JSON parameter, on both databases (psycopg
quotes each element of a text array with a regular expression; SQLite steps once per row of an
executemany).
"""

from __future__ import annotations

from smscast.domain.statuses import FINAL_VALUES, MessageStatus

# A status that is not final, as literal SQL.
NOT_FINAL_SQL = " AND ".join(f"status <> '{value}'" for value in sorted(FINAL_VALUES))
QUEUED = MessageStatus.QUEUED.value
# A claimed part stays ``Queued``: what makes it its dispatcher's is ``lease_until`` in the future. Only
# ``lease_until``, ``attempts`` and ``price`` change, which no index covers, so on PostgreSQL the claim is a
# HOT update (no index entries; half the cost of a status change: `bench/bench_pg_row_writes.py`), and a
# part whose dispatcher died is claimable again as soon as its lease ends.
NOT_LEASED_SQL = "(lease_until IS NULL OR lease_until <= {now})"

CLAIMED = ["sms_id", "message_id", "account_id", "campaign_id", "part", "parts", "to", "sender", "country"]
CLAIMED += ["body", "flash", "quiet_hours", "expires_at", "created_at"]
# RETURNING names the updated table's columns qualified on PostgreSQL (``picked`` has an ``sms_id`` too).
POSTGRES_CLAIMED = ", ".join(f'm."{name}"' for name in CLAIMED)

# PostgreSQL's claim. Parameters: ``now`` (twice), ``limit``, ``lease_until``, the tariff as a JSON
# object (ISO code → part price in micro-units), the ZZ fallback. The picked parts' price before the update
# comes from the CTE; the country's price is one JSON lookup per part (a join with an unnest of the tariff
# made the planner loop over the whole tariff per part); no price at all leaves the part unpriced (the
# caller raises NoPrice). Returns the callback itself, not ``callback IS NOT NULL`` (as SQLite's must: in
# RETURNING, SQLite 3.40 answers 1 for every row). ``body`` is NULL for a part that uses its campaign's text.
POSTGRES_CLAIM = (
    "WITH picked AS MATERIALIZED (SELECT sms_id, price FROM messages"
    f" WHERE status = '{QUEUED}' AND not_before <= %s AND {NOT_LEASED_SQL.format(now='%s')}"
    " ORDER BY not_before LIMIT %s FOR UPDATE SKIP LOCKED)"
    " UPDATE messages AS m SET lease_until = %s, attempts = m.attempts + 1,"
    " price = coalesce(m.price, (%s::jsonb ->> m.country)::bigint, %s::bigint)"
    " FROM picked WHERE m.sms_id = picked.sms_id"
    f" RETURNING {POSTGRES_CLAIMED},"
    " picked.price, m.attempts, m.callback, CASE WHEN picked.price IS NULL THEN m.price END"
)


# SQLite's claim (it has no FOR UPDATE: its single writer keeps dispatchers apart). `SQLITE_PICK` reads the
# due parts no one leases as one JSON array (parameters ``now`` twice, ``limit``), with the price as it
# was, the attempt this claim makes and, instead of the callback, 1 or NULL; `SQLITE_LEASE` leases them
# (``lease_until``, the picked parts' countries → their price in micro-units as a JSON object, the picked
# ids as a JSON array).
SQLITE_PICK = (
    "SELECT json_group_array(json_array("
    + ", ".join(f'"{name}"' for name in CLAIMED)
    + ", price, attempts + 1, CASE WHEN callback IS NOT NULL THEN 1 END))"
    f" FROM (SELECT * FROM messages WHERE status = '{QUEUED}' AND not_before <= ?"
    f" AND {NOT_LEASED_SQL.format(now='?')} ORDER BY not_before LIMIT ?)"
)
SQLITE_LEASE = (
    "UPDATE messages SET lease_until = ?, attempts = attempts + 1,"
    " price = coalesce(price, json_extract(?, '$.\"' || country || '\"'))"
    # ``+status``: not through ix_messages_dispatch (the planner's choice, reading every queued part).
    f" WHERE sms_id IN (SELECT value FROM json_each(?)) AND +status = '{QUEUED}'"
)


# The per-part writes, one statement per outcome with the parts as one JSON parameter (see
# `_claim_sqlite`). SQLite's ``+messages.status``: the parts by their key, not every part of that status
# through ix_messages_dispatch. `record_sent`: status, detailed status, ``status_date``, ``submitted_at``,
# ``delivered_at``, and sms_id → carrier id as a JSON object.
SQLITE_RECORD = (
    "UPDATE messages SET status = ?, detailed_status = ?, carrier_message_id = v.value, status_date = ?,"
    " submitted_at = ?, delivered_at = ?, lease_until = NULL FROM json_each(?) AS v"
    f" WHERE messages.sms_id = v.key AND +messages.status = '{QUEUED}'"
)
# PostgreSQL's `record_sent`, the same as SQLite's with its parameter style and JSON function, and
# ``m.status || ''`` for SQLite's ``+status``: the parts by their key (`DispatchRepository._parts_by_key`).
# Ids read from JSON are text; the id columns are ``uuid`` (`types.Id`), hence the casts here and below.
POSTGRES_RECORD = (
    "UPDATE messages AS m SET status = %s, detailed_status = %s, carrier_message_id = v.value,"
    " status_date = %s, submitted_at = %s, delivered_at = %s, lease_until = NULL"
    f" FROM json_each_text(%s::json) AS v WHERE m.sms_id = v.key::uuid AND m.status || '' = '{QUEUED}'"
)
# `DispatchRepository._parts_by_key`: for the rest of the transaction, nested loops only, probing by index.
POSTGRES_BY_KEY = "SELECT " + ", ".join(
    f"set_config('enable_{plan}', 'off', true)" for plan in ("hashjoin", "mergejoin", "seqscan", "material")
)
# `apply_statuses`: status, detailed status, ``status_date``, ``delivered_at``, the sms_ids as a JSON array.
SQLITE_APPLY = (
    "UPDATE messages SET status = ?, detailed_status = ?, status_date = ?, delivered_at = ?"
    " WHERE sms_id IN (SELECT value FROM json_each(?))"
    f" AND {NOT_FINAL_SQL.replace('status', '+status')}"
)
# PostgreSQL's `apply_statuses`, the same as SQLite's.
POSTGRES_APPLY = (
    "UPDATE messages AS m SET status = %s, detailed_status = %s, status_date = %s, delivered_at = %s"
    " WHERE m.sms_id IN (SELECT value::uuid FROM json_array_elements_text(%s::json))"
    f" AND {NOT_FINAL_SQL.replace('status', 'm.status')}"
)
