"""Groups of contacts and their members (api.md §7).

Real groups are rows of ``groups``; their members are rows of ``group_members``. Two virtual groups have
no rows: ``All`` (every contact of the account, id ``ALL_GROUP_ID``) and ``NotListed`` (contacts in no real
group, id ``NOT_LISTED_GROUP_ID``). ``find_by_names`` resolves both, so callers handle every group alike.

Every method is scoped by ``account_id``; the caller owns the transaction.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.bulk import chunks, insert_ignoring_duplicates, unique_guard
from smscast.db.contacts import (
    ALL_GROUP_ID,
    DEFAULT_LABEL_COLUMNS,
    NOT_LISTED_GROUP_ID,
    VIRTUAL_GROUP_IDS,
    ContactRepository,
    in_groups,
    member_condition,
)
from smscast.db.recipients import ContactRecord, RecipientRepository
from smscast.db.schema import blacklist, contact_labels, contacts, group_members, groups

#: Filter operators (Routee's names) for groups created with the ``Filtered`` strategy.
FILTER_OPERATORS: Final = ("is", "is_not", "contains", "starts_with", "ends_with")


#: A member as the campaign expansion reads it: (contact id, mobile, country, blacklisted, labels or None).
Member = tuple[str, str, str | None, bool, dict[str, str] | None]
# The default labels read as columns beside mobile and country, in DEFAULT_LABEL_COLUMNS order.
_PERSONAL = tuple(name for name in DEFAULT_LABEL_COLUMNS if name not in ("mobile", "country"))


@dataclass(frozen=True, slots=True)
class GroupSize:
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class LabelFilter:
    """``label`` compared with ``term`` by ``operator`` (one of ``FILTER_OPERATORS``), ignoring case.

    A contact without a value for the label matches only ``is_not``.
    """

    label: str
    operator: str
    term: str


def _match(value: sa.ColumnElement[str], operator: str, term: str) -> sa.ColumnElement[bool]:
    folded = sa.func.lower(value)
    term = term.lower()
    if operator == "contains":
        return folded.contains(term, autoescape=True)
    if operator == "starts_with":
        return folded.startswith(term, autoescape=True)
    if operator == "ends_with":
        return folded.endswith(term, autoescape=True)
    return folded == term  # "is", and "is_not" negated by the caller


def filter_condition(filters: Sequence[LabelFilter]) -> sa.ColumnElement[bool]:
    """``contacts`` rows matching every filter (no account condition)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for f in filters:
        column = DEFAULT_LABEL_COLUMNS.get(f.label)
        if column is not None:
            hit = _match(column, f.operator, f.term)
            conditions.append(sa.or_(column.is_(None), ~hit) if f.operator == "is_not" else hit)
            continue
        has = sa.exists().where(
            contact_labels.c.contact_id == contacts.c.id,
            contact_labels.c.name == f.label,
            _match(contact_labels.c.value, f.operator, f.term),
        )
        conditions.append(~has if f.operator == "is_not" else has)
    return sa.and_(*conditions)


class GroupRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find_by_names(self, account_id: str, names: Iterable[str]) -> dict[str, int]:
        """name → group id for the names that exist for ``account_id`` (virtual groups included)."""
        wanted = list(dict.fromkeys(names))
        found = {name: VIRTUAL_GROUP_IDS[name] for name in wanted if name in VIRTUAL_GROUP_IDS}
        real = [name for name in wanted if name not in VIRTUAL_GROUP_IDS]
        for part in chunks(real):
            rows = self.conn.execute(
                sa.select(groups.c.name, groups.c.id).where(
                    groups.c.account_id == account_id, groups.c.name.in_(part)
                )
            ).all()
            found.update({row.name: row.id for row in rows})
        return found

    def insert(self, account_id: str, name: str, strategy: str, filters: str | None, now: datetime) -> int:
        """A new (empty) group; the caller checked the name is free (``UniqueViolation`` if a concurrent
        request took it since). Returns its id."""
        with unique_guard():
            result = self.conn.execute(
                groups.insert()
                .values(account_id=account_id, name=name, strategy=strategy, filters=filters, created_at=now)
                .returning(groups.c.id)
            )
        return int(result.scalar_one())

    def delete(self, group_ids: Sequence[int]) -> None:
        """Delete real groups (their memberships cascade); the caller resolved the ids for the account."""
        for part in chunks(list(group_ids)):
            self.conn.execute(group_members.delete().where(group_members.c.group_id.in_(part)))
            self.conn.execute(groups.delete().where(groups.c.id.in_(part)))

    # --- sizes -------------------------------------------------------------------------------------

    def member_counts(self, account_id: str, group_ids: Iterable[int]) -> dict[int, int]:
        """group id → number of members, for ids of ``account_id`` (virtual ids included)."""
        ids = set(group_ids)
        counts: dict[int, int] = {}
        for virtual in (ALL_GROUP_ID, NOT_LISTED_GROUP_ID):
            if virtual in ids:
                counts[virtual] = self.count_distinct_members(account_id, [virtual])
        real = sorted(g for g in ids if g > 0)
        for part in chunks(real):
            rows = self.conn.execute(
                sa.select(groups.c.id, sa.func.count(group_members.c.contact_id).label("size"))
                .select_from(groups)
                .outerjoin(group_members, group_members.c.group_id == groups.c.id)
                .where(groups.c.account_id == account_id, groups.c.id.in_(part))
                .group_by(groups.c.id)
            ).all()
            counts.update({row.id: int(row.size) for row in rows})
        return counts

    def count_distinct_members(self, account_id: str, group_ids: Iterable[int]) -> int:
        """How many distinct contacts of ``account_id`` are in at least one of ``group_ids``."""
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(contacts)
                .where(member_condition(account_id, group_ids))
            ).scalar_one()
        )

    def sizes(
        self, account_id: str, offset: int = 0, limit: int | None = None, *, descending: bool = False
    ) -> tuple[list[GroupSize], int]:
        """The real groups of ``account_id`` with their sizes, by name; and how many real groups there are."""
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(groups).where(groups.c.account_id == account_id)
        ).scalar_one()
        query = (
            sa.select(groups.c.name, sa.func.count(group_members.c.contact_id).label("size"))
            .select_from(groups)
            .outerjoin(group_members, group_members.c.group_id == groups.c.id)
            .where(groups.c.account_id == account_id)
            .group_by(groups.c.id, groups.c.name)
            .order_by(groups.c.name.desc() if descending else groups.c.name)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        return [GroupSize(row.name, int(row.size)) for row in self.conn.execute(query)], int(total)

    # --- membership --------------------------------------------------------------------------------

    def add_members(self, group_id: int, contact_ids: Sequence[str]) -> None:
        """Add contacts (already checked to be the group's account's) unless they are members already."""
        rows = [{"group_id": group_id, "contact_id": cid} for cid in dict.fromkeys(contact_ids)]
        insert_ignoring_duplicates(self.conn, group_members, rows)

    def add_members_where(self, group_id: int, condition: sa.ColumnElement[bool]) -> None:
        """Add every contact matching ``condition`` (which must include the account) to an EMPTY group, in
        one ``INSERT … SELECT``."""
        self.conn.execute(
            group_members.insert().from_select(
                ["group_id", "contact_id"],
                sa.select(sa.literal(group_id, sa.Integer()), contacts.c.id).where(condition),
            )
        )

    def remove_members(self, group_id: int, contact_ids: Sequence[str]) -> None:
        for part in chunks(list(dict.fromkeys(contact_ids))):
            self.conn.execute(
                group_members.delete().where(
                    group_members.c.group_id == group_id, group_members.c.contact_id.in_(part)
                )
            )

    def iter_members(
        self, account_id: str, group_ids: Iterable[int], batch: int = 5000, *, with_labels: bool = True
    ) -> Iterator[list[ContactRecord]]:
        """The distinct contacts of ``account_id`` in any of ``group_ids``, in batches of at most ``batch``
        records ordered by contact id (``with_labels=False``: with empty ``labels``, cheaper).

        Keyset pagination throughout: each real group is read as its own ordered stream of member ids
        (``group_members``' primary key range), the streams are merged without duplicates, and each batch
        is one short query; so memory stays at O(batch × number of groups) whatever the group sizes.
        ``All`` is every contact of the account. Each batch reflects the database when it was read.
        """
        ids = set(group_ids)
        repo = RecipientRepository(self.conn)
        if ALL_GROUP_ID in ids:
            yield from self._iter_contacts(repo, contacts.c.account_id == account_id, batch, with_labels)
            return
        streams: list[Iterator[str]] = [self._member_ids(g, batch) for g in sorted(g for g in ids if g > 0)]
        if NOT_LISTED_GROUP_ID in ids:
            streams.append(
                self._contact_ids(repo, member_condition(account_id, [NOT_LISTED_GROUP_ID]), batch)
            )
        merged = (key for key, _ in itertools.groupby(heapq.merge(*streams)))
        while True:
            chunk = list(itertools.islice(merged, batch))
            if not chunk:
                return
            records = repo.by_ids(account_id, chunk, with_labels=with_labels)
            if records:
                yield records

    def members_after(
        self, account_id: str, group_id: int, after: str, limit: int, *, service: str, with_labels: bool
    ) -> list[Member]:
        """Up to ``limit`` members of one group (real or virtual) whose contact id is greater than ``after``,
        ordered by contact id (keyset pagination: pass the last id back as ``after``), each with whether it
        is blacklisted for ``service`` and, ``with_labels``, its label values (else ``None``).

        One query per call, no IN lists: what the campaign expansion reads millions of members with.
        """
        blocked = sa.exists().where(blacklist.c.contact_id == contacts.c.id, blacklist.c.service == service)
        columns: list[sa.ColumnElement[Any]] = [contacts.c.id, contacts.c.mobile, contacts.c.country, blocked]
        if with_labels:
            columns += [column for name, column in DEFAULT_LABEL_COLUMNS.items() if name in _PERSONAL]
        if group_id > 0:
            query = (
                sa.select(*columns)
                .select_from(group_members.join(contacts, contacts.c.id == group_members.c.contact_id))
                .where(
                    group_members.c.group_id == group_id,
                    group_members.c.contact_id > after,
                    contacts.c.account_id == account_id,
                )
                .order_by(group_members.c.contact_id)
            )
        else:
            query = (
                sa.select(*columns)
                .where(member_condition(account_id, [group_id]), contacts.c.id > after)
                .order_by(contacts.c.id)
            )
        rows = self.conn.execute(query.limit(limit)).all()
        if not with_labels:
            return [(r[0], r[1], r[2], bool(r[3]), None) for r in rows]
        custom = ContactRepository(self.conn).custom_labels([r[0] for r in rows])
        out: list[Member] = []
        for r in rows:
            labels = {"mobile": r[1]} if r[2] is None else {"mobile": r[1], "country": r[2]}
            labels.update(
                (name, value) for name, value in zip(_PERSONAL, r[4:], strict=True) if value is not None
            )
            labels.update(custom.get(r[0], {}))
            out.append((r[0], r[1], r[2], bool(r[3]), labels))
        return out

    def members_among(
        self, account_id: str, group_ids: Iterable[int], contact_ids: Sequence[str]
    ) -> set[str]:
        """The contacts among ``contact_ids`` that are members of any of ``group_ids`` (virtual included)."""
        ids = list(group_ids)
        found: set[str] = set()
        if not ids:
            return found
        condition = member_condition(account_id, ids)
        for part in chunks(list(contact_ids)):
            found.update(
                self.conn.execute(
                    sa.select(contacts.c.id).where(contacts.c.id.in_(part), condition)
                ).scalars()
            )
        return found

    def _member_ids(self, group_id: int, batch: int) -> Iterator[str]:
        after = ""
        while True:
            ids = list(
                self.conn.execute(
                    sa.select(group_members.c.contact_id)
                    .where(group_members.c.group_id == group_id, group_members.c.contact_id > after)
                    .order_by(group_members.c.contact_id)
                    .limit(batch)
                ).scalars()
            )
            yield from ids
            if len(ids) < batch:
                return
            after = ids[-1]

    @staticmethod
    def _contact_ids(
        repo: RecipientRepository, condition: sa.ColumnElement[bool], batch: int
    ) -> Iterator[str]:
        after = ""
        while True:
            ids = repo.ids_after(condition, after, batch)
            yield from ids
            if len(ids) < batch:
                return
            after = ids[-1]

    @staticmethod
    def _iter_contacts(
        repo: RecipientRepository, condition: sa.ColumnElement[bool], batch: int, with_labels: bool
    ) -> Iterator[list[ContactRecord]]:
        after = ""
        while True:
            rows = repo.record_rows_after(condition, after, batch)
            if rows:
                yield repo.records(rows, with_labels=with_labels)
            if len(rows) < batch:
                return
            after = rows[-1].id


__all__ = [
    "FILTER_OPERATORS",
    "GroupRepository",
    "GroupSize",
    "LabelFilter",
    "filter_condition",
    "in_groups",
    "member_condition",
]
