"""Contacts and custom label definitions and values (api.md §7). The per-service blacklist is in
``blacklist``, the contacts as the campaign engine reads them in ``recipients``, the helpers the contact
and group repositories share in ``bulk``.

Every method is scoped by ``account_id``: a contact id of another account behaves exactly like an unknown
id. The caller owns the transaction (``Database.write()`` / ``.read()``); nothing here commits.

Two read shapes:
- ``ContactRecord`` (``recipients``): what the campaign engine needs to send (mobile, country, label
  values for personalisation, blacklisted services), loaded in batches.
- ``ContactRow``: the full contact as the API shows it (default fields, groups, typed custom labels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from smscast.db.blacklist import BlacklistRepository
from smscast.db.bulk import chunks, unique_guard
from smscast.db.schema import contact_labels, contacts, group_members, groups, label_definitions

#: The labels every contact has, stored as columns. Custom labels live in ``contact_labels``.
DEFAULT_LABEL_COLUMNS: Final[Mapping[str, sa.Column[Any]]] = {
    "firstName": contacts.c.first_name,
    "lastName": contacts.c.last_name,
    "mobile": contacts.c.mobile,
    "email": contacts.c.email,
    "country": contacts.c.country,
}
DEFAULT_LABELS: Final = tuple(DEFAULT_LABEL_COLUMNS)

#: Columns the contact pages can be sorted by (api name → column); ties are broken by id.
SORT_COLUMNS: Final[Mapping[str, sa.Column[Any]]] = {**DEFAULT_LABEL_COLUMNS, "id": contacts.c.id}

#: The virtual groups: every contact is in ``All``; ``NotListed`` holds contacts in no real group.
ALL_GROUP: Final = "All"
NOT_LISTED_GROUP: Final = "NotListed"
ALL_GROUP_ID: Final = 0
NOT_LISTED_GROUP_ID: Final = -1
VIRTUAL_GROUP_IDS: Final[Mapping[str, int]] = {ALL_GROUP: ALL_GROUP_ID, NOT_LISTED_GROUP: NOT_LISTED_GROUP_ID}


@dataclass(frozen=True, slots=True)
class LabelValue:
    name: str
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A contact as the API shows it. ``groups`` starts with the virtual groups it is in."""

    id: str
    mobile: str
    first_name: str | None
    last_name: str | None
    email: str | None
    country: str | None
    vip: bool
    groups: tuple[str, ...]
    blacklisted_services: tuple[str, ...]
    labels: tuple[LabelValue, ...]


@dataclass(frozen=True, slots=True)
class NewContact:
    id: str
    mobile: str
    country: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    vip: bool
    labels: Mapping[str, str]


def in_groups(group_ids: Iterable[int]) -> sa.ColumnElement[bool]:
    """``contacts`` rows that are members of any of ``group_ids`` (virtual ids included).

    Carries no account condition: combine it with ``contacts.c.account_id == …`` (``member_condition``).
    """
    ids = set(group_ids)
    if ALL_GROUP_ID in ids:
        return sa.true()
    alternatives: list[sa.ColumnElement[bool]] = []
    real = sorted(g for g in ids if g > 0)
    if real:
        alternatives.append(
            contacts.c.id.in_(sa.select(group_members.c.contact_id).where(group_members.c.group_id.in_(real)))
        )
    if NOT_LISTED_GROUP_ID in ids:
        alternatives.append(~sa.exists().where(group_members.c.contact_id == contacts.c.id))
    return sa.or_(*alternatives) if alternatives else sa.false()


def member_condition(account_id: str, group_ids: Iterable[int]) -> sa.ColumnElement[bool]:
    """``contacts`` rows of ``account_id`` in any of ``group_ids``."""
    return sa.and_(contacts.c.account_id == account_id, in_groups(group_ids))


def text_condition(text: str) -> sa.ColumnElement[bool]:
    """``contacts`` rows whose mobile, first or last name or e-mail contains ``text``, ignoring case.

    Carries no account condition: combine it with ``member_condition``.
    """
    term = text.strip().lower()
    return sa.or_(
        *(
            sa.func.lower(column).contains(term, autoescape=True)
            for column in (contacts.c.mobile, contacts.c.first_name, contacts.c.last_name, contacts.c.email)
        )
    )


class ContactRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- label definitions -------------------------------------------------------------------------

    def label_types(self, account_id: str) -> dict[str, str]:
        """Custom label name → type (``Text`` / ``Number``), sorted by name."""
        rows = self.conn.execute(
            sa.select(label_definitions.c.name, label_definitions.c.type)
            .where(label_definitions.c.account_id == account_id)
            .order_by(label_definitions.c.name)
        ).all()
        return {row.name: row.type for row in rows}

    def insert_label_definitions(self, account_id: str, labels: Sequence[tuple[str, str]]) -> None:
        """Raises ``UniqueViolation`` if one was defined concurrently."""
        if labels:
            with unique_guard():
                self.conn.execute(
                    label_definitions.insert(),
                    [{"account_id": account_id, "name": name, "type": kind} for name, kind in labels],
                )

    # --- single contacts ---------------------------------------------------------------------------

    def id_by_mobile(self, account_id: str, mobile: str) -> str | None:
        value = self.conn.execute(
            sa.select(contacts.c.id).where(contacts.c.account_id == account_id, contacts.c.mobile == mobile)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def exists(self, account_id: str, contact_id: str) -> bool:
        return (
            self.conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.account_id == account_id, contacts.c.id == contact_id
                )
            ).first()
            is not None
        )

    def insert(self, account_id: str, contacts_in: Sequence[NewContact], now: datetime) -> None:
        """Insert contacts and their custom labels (executemany). The caller checked the mobiles are free;
        ``UniqueViolation`` if a concurrent request took one since."""
        if not contacts_in:
            return
        with unique_guard():
            self._insert_rows(account_id, contacts_in, now)

    def _insert_rows(self, account_id: str, contacts_in: Sequence[NewContact], now: datetime) -> None:
        self.conn.execute(
            contacts.insert(),
            [
                {
                    "id": c.id,
                    "account_id": account_id,
                    "mobile": c.mobile,
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "email": c.email,
                    "country": c.country,
                    "vip": c.vip,
                    "created_at": now,
                }
                for c in contacts_in
            ],
        )
        label_rows = [
            {"contact_id": c.id, "name": name, "value": value}
            for c in contacts_in
            for name, value in c.labels.items()
        ]
        if label_rows:
            self.conn.execute(contact_labels.insert(), label_rows)

    def update(self, account_id: str, contact_id: str, values: Mapping[str, Any]) -> None:
        """Set columns (``first_name``, ``mobile``, …) of one contact (``UniqueViolation``: mobile taken)."""
        if values:
            with unique_guard():
                self.conn.execute(
                    contacts.update()
                    .where(contacts.c.account_id == account_id, contacts.c.id == contact_id)
                    .values(**values)
                )

    def update_many_keeping_blanks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Bulk update by ``id``: each row carries ``id``, ``first_name``, ``last_name``, ``email`` and
        ``vip``; a ``None`` leaves that column unchanged (CSV import: a blank cell changes nothing)."""
        if not rows:
            return
        statement = (
            contacts.update()
            .where(contacts.c.id == sa.bindparam("b_id"))
            .values(
                first_name=sa.func.coalesce(
                    sa.bindparam("b_first_name", type_=sa.String()), contacts.c.first_name
                ),
                last_name=sa.func.coalesce(
                    sa.bindparam("b_last_name", type_=sa.String()), contacts.c.last_name
                ),
                email=sa.func.coalesce(sa.bindparam("b_email", type_=sa.String()), contacts.c.email),
                vip=sa.func.coalesce(sa.bindparam("b_vip", type_=sa.Boolean()), contacts.c.vip),
            )
        )
        self.conn.execute(statement, [{f"b_{key}": value for key, value in row.items()} for row in rows])

    def set_labels(self, values: Mapping[str, Mapping[str, str | None]]) -> None:
        """Per contact id, set (or with ``None`` remove) the named custom labels; others are untouched."""
        pairs = [{"b_id": cid, "b_name": name} for cid, labels in values.items() for name in labels]
        if pairs:
            self.conn.execute(
                contact_labels.delete().where(
                    contact_labels.c.contact_id == sa.bindparam("b_id"),
                    contact_labels.c.name == sa.bindparam("b_name"),
                ),
                pairs,
            )
        rows = [
            {"contact_id": cid, "name": name, "value": value}
            for cid, labels in values.items()
            for name, value in labels.items()
            if value is not None
        ]
        if rows:
            self.conn.execute(contact_labels.insert(), rows)

    def delete(self, account_id: str, ids: Sequence[str]) -> list[str]:
        """Delete the contacts of ``account_id`` among ``ids``; returns the ids deleted, in input order.

        Labels, memberships and blacklist entries go with them (``ON DELETE CASCADE``).
        """
        found = self.existing_ids(account_id, ids)
        doomed = [cid for cid in dict.fromkeys(ids) if cid in found]
        for part in chunks(doomed):
            self.conn.execute(
                contacts.delete().where(contacts.c.account_id == account_id, contacts.c.id.in_(part))
            )
        return doomed

    def delete_where(self, condition: sa.ColumnElement[bool]) -> int:
        """Delete every contact matching ``condition`` (which must include the account condition)."""
        return self.conn.execute(contacts.delete().where(condition)).rowcount

    def existing_ids(self, account_id: str, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        for part in chunks(wanted):
            found.update(
                self.conn.execute(
                    sa.select(contacts.c.id).where(
                        contacts.c.account_id == account_id, contacts.c.id.in_(part)
                    )
                ).scalars()
            )
        return found

    def ids_by_mobiles(self, account_id: str, mobiles: Sequence[str]) -> dict[str, str]:
        """mobile → contact id, for the mobiles of ``account_id`` among ``mobiles``."""
        found: dict[str, str] = {}
        for part in chunks(list(dict.fromkeys(mobiles))):
            rows = self.conn.execute(
                sa.select(contacts.c.mobile, contacts.c.id).where(
                    contacts.c.account_id == account_id, contacts.c.mobile.in_(part)
                )
            ).all()
            found.update({row.mobile: row.id for row in rows})
        return found

    # --- reading full contacts ---------------------------------------------------------------------

    def get(self, account_id: str, contact_id: str) -> ContactRow | None:
        rows = self.rows(account_id, [contact_id])
        return rows[0] if rows else None

    def rows(self, account_id: str, ids: Sequence[str]) -> list[ContactRow]:
        """Full contacts for ``ids`` (those of ``account_id``), in the order of ``ids``."""
        if not ids:
            return []
        base: dict[str, Row[Any]] = {}
        for part in chunks(list(dict.fromkeys(ids))):
            for found in self.conn.execute(
                sa.select(contacts).where(contacts.c.account_id == account_id, contacts.c.id.in_(part))
            ):
                base[found.id] = found
        present = list(base)
        types = self.label_types(account_id)
        labels = self._custom_labels(present)
        blacklisted = BlacklistRepository(self.conn).blacklisted(present)
        memberships = self._group_names(present)
        out: list[ContactRow] = []
        for cid in ids:
            row = base.get(cid)
            if row is None:
                continue
            names = memberships.get(cid, [])
            virtual = (ALL_GROUP,) if names else (ALL_GROUP, NOT_LISTED_GROUP)
            out.append(
                ContactRow(
                    id=row.id,
                    mobile=row.mobile,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    email=row.email,
                    country=row.country,
                    vip=bool(row.vip),
                    groups=virtual + tuple(sorted(names)),
                    blacklisted_services=tuple(sorted(blacklisted.get(cid, ()))),
                    labels=tuple(
                        LabelValue(name, types.get(name, "Text"), value)
                        for name, value in sorted(labels.get(cid, {}).items())
                    ),
                )
            )
        return out

    def page_ids(
        self,
        condition: sa.ColumnElement[bool],
        sort: str | None,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[str], int]:
        """One page of contact ids matching ``condition`` (which includes the account), and the total.

        Default order is creation time; ``sort`` is a key of ``SORT_COLUMNS``. Ties are broken by id.
        """
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(contacts).where(condition)
        ).scalar_one()
        column: sa.ColumnElement[Any] = SORT_COLUMNS[sort] if sort else contacts.c.created_at
        ordered = column.desc() if descending else column.asc()
        ids = self.conn.execute(
            sa.select(contacts.c.id)
            .where(condition)
            .order_by(ordered.nulls_last(), contacts.c.id)
            .offset(offset)
            .limit(limit)
        ).scalars()
        return list(ids), int(total)

    # --- helpers -----------------------------------------------------------------------------------

    def custom_labels(self, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """contact id → its custom label values, for the contacts among ``ids`` that have any."""
        return self._custom_labels(ids)

    def _custom_labels(self, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for part in chunks(ids):
            for row in self.conn.execute(
                sa.select(contact_labels.c.contact_id, contact_labels.c.name, contact_labels.c.value).where(
                    contact_labels.c.contact_id.in_(part)
                )
            ):
                out.setdefault(row.contact_id, {})[row.name] = row.value
        return out

    def _group_names(self, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for part in chunks(ids):
            for row in self.conn.execute(
                sa.select(group_members.c.contact_id, groups.c.name)
                .join(groups, groups.c.id == group_members.c.group_id)
                .where(group_members.c.contact_id.in_(part))
            ):
                out.setdefault(row.contact_id, []).append(row.name)
        return out
