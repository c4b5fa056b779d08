"""Contacts as the campaign engine sees them (``ContactRecord``): mobile, country, label values for
personalisation and blacklisted services, loaded in batches.

Every method is scoped by ``account_id`` or by a condition that includes it (``contacts.member_condition``).
The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from smscast.db.blacklist import BlacklistRepository
from smscast.db.bulk import chunks
from smscast.db.contacts import DEFAULT_LABEL_COLUMNS, ContactRepository
from smscast.db.driver import listed
from smscast.db.schema import contacts

_RECORD_COLUMNS: Final = (
    contacts.c.id,
    contacts.c.mobile,
    contacts.c.first_name,
    contacts.c.last_name,
    contacts.c.email,
    contacts.c.country,
)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A recipient as the campaign engine sees it.

    ``labels`` maps every label name with a value to that value: the default labels (``firstName``,
    ``lastName``, ``mobile``, ``email``, ``country``) when set, and the custom ones.
    """

    id: str
    mobile: str
    country: str | None
    labels: dict[str, str]
    blacklisted_services: frozenset[str]


class RecipientRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_ids(self, account_id: str, ids: Sequence[str], *, with_labels: bool = True) -> list[ContactRecord]:
        """Records of the contacts of ``account_id`` among ``ids``, ordered by id; unknown ids left out.
        ``with_labels=False`` leaves every ``labels`` empty (cheaper, for a body that uses none)."""
        rows: list[Row[Any]] = []
        for part in chunks(sorted(set(ids))):
            rows.extend(
                self.conn.execute(
                    sa.select(*_RECORD_COLUMNS)
                    .where(contacts.c.account_id == account_id, contacts.c.id.in_(part))
                    .order_by(contacts.c.id)
                )
            )
        return self.records(rows, with_labels=with_labels)

    def by_mobiles(self, account_id: str, mobiles: Sequence[str]) -> dict[str, ContactRecord]:
        """mobile → record, for the mobiles among ``mobiles`` that belong to a contact of ``account_id``."""
        if not mobiles or not self._has_contacts(account_id):
            return {}
        unique = list(dict.fromkeys(mobiles))
        # One JSON parameter (`driver.listed`): an IN list of 20,000 placeholders cost 0.16 s just to render,
        # and on PostgreSQL an array parameter ~10 ms to quote.
        numbers, _ = listed(self.conn.dialect, unique)
        query = sa.select(*_RECORD_COLUMNS).where(
            contacts.c.account_id == account_id, contacts.c.mobile.in_(sa.select(numbers.c.value))
        )
        return {record.mobile: record for record in self.records(list(self.conn.execute(query)))}

    def _has_contacts(self, account_id: str) -> bool:
        """Whether the account has any contact: accounts that send to numbers alone have none, and then a
        list of 20,000 numbers need not be sent and matched (~7 ms of a POST /sms/campaign)."""
        first = sa.select(contacts.c.id).where(contacts.c.account_id == account_id).limit(1)
        return self.conn.execute(first).first() is not None

    def ids_after(self, condition: sa.ColumnElement[bool], after: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of contacts matching ``condition`` with ``id > after``, ordered (keyset)."""
        return list(
            self.conn.execute(
                sa.select(contacts.c.id)
                .where(condition, contacts.c.id > after)
                .order_by(contacts.c.id)
                .limit(limit)
            ).scalars()
        )

    def record_rows_after(self, condition: sa.ColumnElement[bool], after: str, limit: int) -> list[Row[Any]]:
        """Up to ``limit`` record rows matching ``condition`` with ``id > after``, ordered by id (keyset)."""
        return list(
            self.conn.execute(
                sa.select(*_RECORD_COLUMNS)
                .where(condition, contacts.c.id > after)
                .order_by(contacts.c.id)
                .limit(limit)
            )
        )

    def records(self, rows: Sequence[Row[Any]], *, with_labels: bool = True) -> list[ContactRecord]:
        """``ContactRecord``s for rows selected with the record columns, in the same order
        (``with_labels=False``: every ``labels`` empty)."""
        ids = [row.id for row in rows]
        blacklisted = BlacklistRepository(self.conn).blacklisted(ids)
        if not with_labels:
            nothing: frozenset[str] = frozenset()
            return [
                ContactRecord(
                    row.id, row.mobile, row.country, {}, frozenset(blacklisted.get(row.id, nothing))
                )
                for row in rows
            ]
        labels = ContactRepository(self.conn).custom_labels(ids)
        out: list[ContactRecord] = []
        for row in rows:
            values = {name: row._mapping[column.name] for name, column in DEFAULT_LABEL_COLUMNS.items()}
            merged = {name: value for name, value in values.items() if value is not None}
            merged.update(labels.get(row.id, {}))
            out.append(
                ContactRecord(row.id, row.mobile, row.country, merged, frozenset(blacklisted.get(row.id, ())))
            )
        return out
