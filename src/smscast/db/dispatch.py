"""The message queue: claim parts with a lease, hold, charge, record carrier results, apply receipts.
(Receipts wait in the inbox of ``receipts`` until their part is recorded.)

A claimed part stays ``Queued``; its ``lease_until`` in the future makes it its dispatcher's (`dispatch_sql`:
the claim then changes no indexed column). A claim is one statement on PostgreSQL, ``WITH picked AS (SELECT …
FOR UPDATE SKIP LOCKED) UPDATE … RETURNING …``: concurrent dispatchers skip each other's rows, and a row
leased by a claim that committed meanwhile fails the lease condition on its re-check; on SQLite the single
writer keeps dispatchers apart. A part whose lease runs out before its result is recorded is simply due
again; its ``price`` stays set, so it is never charged twice.

The per-part writes (lease, record, receipts) are hand-written statements (``dispatch_sql``), one per
outcome with the parts as one JSON parameter: at thousands of parts per second, SQLAlchemy's per-row
parameter processing was most of their cost (see ``driver``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from smscast.db.dispatch_sql import (
    POSTGRES_APPLY,
    POSTGRES_BY_KEY,
    POSTGRES_CLAIM,
    POSTGRES_RECORD,
    QUEUED,
    SQLITE_APPLY,
    SQLITE_LEASE,
    SQLITE_PICK,
    SQLITE_RECORD,
)
from smscast.db.driver import binder, driver_cursor, is_postgres
from smscast.db.schema import campaigns, messages
from smscast.db.types import MICROS
from smscast.domain.pricing import FALLBACK_ISO
from smscast.domain.statuses import FINAL_VALUES, MessageStatus


@dataclass(slots=True)
class ClaimedPart:
    """A part leased to a dispatcher. Not frozen for one reason: the charge sets ``price`` on the parts it
    has just claimed (rebuilding thousands of objects per second for one field showed in profiles)."""

    sms_id: str
    message_id: str
    account_id: str
    campaign_id: str | None
    part: int
    parts: int
    to: str
    sender: str
    country: str
    body: str
    flash: bool
    quiet_hours: bool
    expires_at: datetime | None
    created_at: datetime
    price: Decimal | None
    attempts: int
    has_callback: bool
    # The part price the claim set on a part it found unpriced (`DispatchRepository.claim`); None when the
    # part was priced on an earlier claim, or no price exists for its country.
    quoted: Decimal | None = None


# A price quoted by the claim statement is cleared again (``p_unquote``), any other kept.
_UNQUOTED_PRICE = sa.case((sa.bindparam("p_unquote", type_=sa.Boolean()), sa.null()), else_=messages.c.price)


class DispatchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def _postgres(self) -> bool:
        return is_postgres(self.conn.dialect)

    def claim(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        tariff: Mapping[str, Decimal],
        bodies: dict[str, str] | None = None,
    ) -> list[ClaimedPart]:
        """Lease up to ``limit`` due ``Queued`` parts that no one holds a lease on to the caller until
        ``lease_until`` (they stay ``Queued``).

        One statement: ``WITH picked AS MATERIALIZED (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE …
        FROM picked … RETURNING``. The CTE is evaluated once (an ``UPDATE … WHERE id IN (SELECT … LIMIT n
        FOR UPDATE SKIP LOCKED)`` can update more than n rows on PostgreSQL when the planner re-runs the
        subquery), locks the rows it picks and skips rows another dispatcher holds. A part that stores no
        text gets its campaign's (docs/adr/0004), read once per campaign of the batch: a subquery per row
        in RETURNING was 40 % of the statement's cost. ``bodies``: the caller's cache of those texts (they
        never change once parts exist; on SQLite a read walked the definition's overflow pages, ~1 ms).

        The claim also prices, from ``tariff`` (ISO country → part price, ``ZZ`` for every other country),
        the parts that have no price yet (``quoted``; ``price`` stays what it was before; no price at all
        leaves ``quoted`` None). The caller undoes the quote of a part it does not send (`hold`, `finish`
        restore ``price``). On PostgreSQL the lease's UPDATE sets the price itself: a separate ``UPDATE …
        SET price`` was a second non-HOT row version per part with six index entries, 40 % of the claim's
        time. On SQLite the lease prices them the same way, after reading the picked parts (`_claim_sqlite`).
        """
        dialect = self.conn.dialect
        at = binder(dialect, "messages", "not_before")
        rows: Sequence[Any]
        if not self._postgres:
            rows = self._claim_sqlite(at(now), limit, at(lease_until), tariff)
        else:
            money = binder(dialect, "messages", "price")
            fallback = tariff.get(FALLBACK_ISO)
            # psycopg's own cursor, in this transaction: the rows as plain tuples (a SQLAlchemy Row per
            # part cost ~0.5 µs of serve's CPU).
            with driver_cursor(self.conn) as cursor:
                # Just after a campaign's parts were written the statistics say few are queued, and the
                # planner reads every queued part (bitmap scan), sorts them and keeps n: 22 ms for 500 of
                # 20,000 where walking ix_messages_dispatch in order takes 5 ms. For this transaction only.
                cursor.execute("SET LOCAL enable_bitmapscan = off")
                cursor.execute(
                    POSTGRES_CLAIM,
                    (
                        at(now),
                        at(now),
                        limit,
                        at(lease_until),
                        json.dumps({iso: money(price) for iso, price in tariff.items()}),
                        None if fallback is None else money(fallback),
                    ),
                )
                rows = cursor.fetchall()
        cache = {} if bodies is None else bodies
        needed = {row[3] for row in rows if row[9] is None}
        texts = {campaign_id: text for campaign_id in needed if (text := cache.get(campaign_id)) is not None}
        if len(texts) < len(needed):
            read = self._campaign_bodies(needed - texts.keys())
            texts.update(read)
            cache.update(read)  # another dispatcher's thread may use it too: get and update only
        # The parts of a campaign share their timestamps and prices: each distinct one is converted once.
        read_time = _time_reader(dialect)
        times: dict[Any, datetime] = {}
        amounts: dict[int, Decimal] = {}
        for row in rows:
            for value in (row[12], row[13]):
                if value is not None and value not in times:
                    times[value] = read_time(value)
            for value in (row[14], row[17]):
                if value is not None and value not in amounts:
                    amounts[value] = Decimal(value) / MICROS
        return [
            ClaimedPart(
                sms_id,
                message_id,
                account_id,
                campaign_id,
                part,
                parts,
                to,
                sender,
                country,
                texts[campaign_id] if body is None else body,
                bool(flash),
                bool(quiet_hours),
                None if expires_at is None else times[expires_at],
                times[created_at],
                None if price is None else amounts[price],
                attempts,
                callback is not None,
                None if quoted is None else amounts[quoted],
            )
            for (
                sms_id,
                message_id,
                account_id,
                campaign_id,
                part,
                parts,
                to,
                sender,
                country,
                body,
                flash,
                quiet_hours,
                expires_at,
                created_at,
                price,
                attempts,
                callback,
                quoted,
            ) in rows
        ]

    def _claim_sqlite(
        self, now: Any, limit: int, lease_until: Any, tariff: Mapping[str, Decimal]
    ) -> list[Any]:
        """SQLite's claim: one statement reads the picked parts (as one JSON array: one row), one leases
        and prices them. Its single writer keeps dispatchers apart between the two.

        Each statement is one step of the SQLite library on purpose. The ``sqlite3`` module lets go of the
        GIL around every step, and a step per row (an ``UPDATE … RETURNING`` fetched row by row, an
        ``executemany``) hands the GIL over hundreds of times per claim: while the event loop or the API
        had work, each hand-over waited for it, with the database's one write lock held all along
        (`bench/bench_sqlite_steps.py`)."""
        money = binder(self.conn.dialect, "messages", "price")
        picked = self.conn.exec_driver_sql(SQLITE_PICK, (now, now, limit)).scalar_one()
        rows: list[list[Any]] = orjson.loads(picked) if picked else []
        if not rows:
            return []
        fallback = tariff.get(FALLBACK_ISO)
        quotes: dict[str, int | None] = {}
        by_country: dict[str, int | None] = {}  # each country's price converted once
        for row in rows:
            if row[14] is None:  # unpriced: quote it
                country = row[8]
                if country in by_country:
                    quotes[row[0]] = by_country[country]
                    continue
                price = tariff.get(country, fallback)
                quotes[row[0]] = by_country[country] = None if price is None else money(price)
        priced = {country: quote for country, quote in by_country.items() if quote is not None}
        self.conn.exec_driver_sql(
            SQLITE_LEASE,
            (lease_until, orjson.dumps(priced).decode(), orjson.dumps([row[0] for row in rows]).decode()),
        )
        for row in rows:
            row.append(quotes.get(row[0]))
        return rows

    def _campaign_bodies(self, campaign_ids: set[Any]) -> dict[str, str]:
        query = sa.select(campaigns.c.tracking_id, campaigns.c.message_body).where(
            campaigns.c.tracking_id.in_(sorted(campaign_ids))
        )
        return {tracking_id: body for tracking_id, body in self.conn.execute(query)}

    def renew_leases(self, sms_ids: Sequence[str], lease_until: datetime) -> None:
        """Extend the lease of parts still being sent (not yet recorded) to ``lease_until``."""
        if sms_ids:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id.in_(sms_ids), messages.c.status == QUEUED)
                .values(lease_until=lease_until)
            )

    def hold(self, items: Sequence[tuple[str, datetime]], unquote: Collection[str] = ()) -> None:
        """Put parts back in the queue until ``not_before`` (quiet hours), marking them held. Those in
        ``unquote`` lose the price their claim quoted (`claim`): they are charged when they are sent."""
        if items:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"), messages.c.status == QUEUED)
                .values(
                    not_before=sa.bindparam("p_not_before"),
                    held=True,
                    lease_until=None,
                    price=_UNQUOTED_PRICE,
                ),
                [
                    {"p_sms_id": sms_id, "p_not_before": when, "p_unquote": sms_id in unquote}
                    for sms_id, when in items
                ],
            )

    def finish(
        self, items: Sequence[tuple[str, str, str]], now: datetime, unquote: Collection[str] = ()
    ) -> None:
        """Give leased parts a final status (``status``, ``detailed_status``). Those in ``unquote``
        lose the price their claim quoted (`claim`): they were never charged."""
        if items:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id == sa.bindparam("p_sms_id"), messages.c.status == QUEUED)
                .values(
                    status=sa.bindparam("p_status"),
                    detailed_status=sa.bindparam("p_detailed"),
                    status_date=now,
                    lease_until=None,
                    price=_UNQUOTED_PRICE,
                ),
                [
                    {"p_sms_id": s, "p_status": st, "p_detailed": d, "p_unquote": s in unquote}
                    for s, st, d in items
                ],
            )

    def requeue(self, sms_ids: Sequence[str], not_before: datetime) -> None:
        """Back to the queue after a transient carrier failure (keeps the price: no second charge)."""
        if sms_ids:
            self.conn.execute(
                messages.update()
                .where(messages.c.sms_id.in_(sms_ids), messages.c.status == QUEUED)
                .values(not_before=not_before, lease_until=None)
            )

    def record_sent(self, items: Sequence[tuple[str, str, str, str, bool]], now: datetime) -> None:
        """Parts the carrier accepted, as ``(sms_id, carrier_id, status, detailed_status, receipted)``: the
        carrier's id and ``Sent``, or straight the status of a receipt already here (``receipted``: it sets
        ``delivered_at`` as `apply_statuses` would) — one row version instead of two."""
        if items:
            at = binder(self.conn.dialect, "messages", "status_date")(now)
            # One statement per outcome (Sent, or a receipt's status), the parts as one JSON object
            # (sms_id → carrier id): psycopg quotes each element of a text array with a regular expression,
            # which for five arrays cost more of serve's CPU than the rest of the record.
            outcomes: dict[tuple[str, str, bool], dict[str, str]] = defaultdict(dict)
            for sms_id, carrier_id, status, detailed, receipted in items:
                outcomes[status, detailed, receipted][sms_id] = carrier_id
            statement = POSTGRES_RECORD if self._postgres else SQLITE_RECORD
            self._parts_by_key()
            for (status, detailed, receipted), carrier_ids in outcomes.items():
                self.conn.exec_driver_sql(
                    statement,
                    (status, detailed, at, at, at if receipted else None, orjson.dumps(carrier_ids).decode()),
                )

    def expire_unconfirmed(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> list[tuple[str, bool]]:
        """Parts ``Sent`` before ``submitted_before`` whose receipt never came: final ``Undelivered`` with
        detailed status ``Unknown Status``. Returns ``(sms_id, has_callback)`` of those changed."""
        picked = list(
            self.conn.execute(
                sa.select(messages.c.sms_id)
                .where(
                    # Written out, not bound: PostgreSQL's ix_messages_dispatch holds open parts only, and a
                    # plan made for any value (a prepared statement's generic plan) could not use it.
                    messages.c.status == sa.bindparam("sent", MessageStatus.SENT.value, literal_execute=True),
                    messages.c.submitted_at < submitted_before,
                    # Implied (a part is claimed, then submitted, only once its not_before has passed), and
                    # what bounds the scan: ix_messages_dispatch's Sent entries from the oldest not_before
                    # up to it, not every part waiting for its receipt (200,000 of them: a 55 ms scan on
                    # PostgreSQL every maintenance pass, against 0.01 ms).
                    messages.c.not_before < submitted_before,
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not picked:
            return []
        rows = self.conn.execute(
            messages.update()
            .where(messages.c.sms_id.in_(picked), messages.c.status == MessageStatus.SENT.value)
            .values(status=MessageStatus.UNDELIVERED.value, detailed_status="Unknown Status", status_date=now)
            .returning(messages.c.sms_id, messages.c.callback)
        ).all()
        # (Not ``callback IS NOT NULL`` in RETURNING: SQLite 3.40 answers 1 for every row there.)
        return [(sms_id, callback is not None) for sms_id, callback in rows]

    def apply_statuses(self, items: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Receipt results: only a part that is not final yet moves (statuses only move forward)."""
        if items:
            at = binder(self.conn.dialect, "messages", "status_date")(now)
            # One row per part, as applying them in order would leave it: the first final status, else the
            # last one (an UPDATE … FROM joining a part twice would pick either).
            effective: dict[str, tuple[str, str]] = {}
            for sms_id, status, detailed in items:
                if effective.get(sms_id, ("", ""))[0] not in FINAL_VALUES:
                    effective[sms_id] = (status, detailed)
            by_change: dict[tuple[str, str], list[str]] = defaultdict(list)
            for sms_id, change in effective.items():
                by_change[change].append(sms_id)
            statement = POSTGRES_APPLY if self._postgres else SQLITE_APPLY
            self._parts_by_key()
            for (status, detailed), sms_ids in by_change.items():
                self.conn.exec_driver_sql(
                    statement, (status, detailed, at, at, orjson.dumps(sms_ids).decode())
                )

    def _parts_by_key(self) -> None:
        """For this transaction, on PostgreSQL: find the parts a JSON parameter lists by their primary key,
        one probe each (a nested loop; the statements' status tests use no index). While a campaign is
        being sent the statistics lag behind (a just-written campaign's parts are not in them) and the
        planner expects ~100 listed parts and few open ones: it read every queued part through
        ix_messages_dispatch and hashed them, ~30 rows read per part written and 40 % of the record's time;
        with hash joins off alone, it read them once per listed part, and on a table it thinks small it
        reads the whole table once per listed part. (SQLite's statements steer with ``+status``.)"""
        if self._postgres:
            self.conn.exec_driver_sql(POSTGRES_BY_KEY)


def _time_reader(dialect: Dialect) -> Callable[[Any], datetime]:
    """Turns a timestamp as the driver returns it into an aware UTC datetime."""
    if dialect.name == "sqlite":
        return _sqlite_time
    return _aware_time


def _sqlite_time(value: Any) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _aware_time(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo is not UTC else value
