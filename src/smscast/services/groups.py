"""Groups of contacts (api.md §7): the use cases behind ``/groups/…``.

Besides the account's own groups there are two virtual ones, computed rather than stored: ``All`` (every
contact) and ``NotListed`` (contacts in no other group), as in Routee. They are listed first, can be read,
sent to, merged and subtracted, but not created, deleted or edited.

Groups are snapshots: ``All`` and ``Filtered`` strategies, merge and difference copy the matching contacts
when the group is created; contacts created later join only ``All`` (and ``NotListed``).

Each method validates, then works in one transaction; a request that fails changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from smscast.db.bulk import UniqueViolation
from smscast.db.contacts import (
    ALL_GROUP,
    ALL_GROUP_ID,
    DEFAULT_LABELS,
    NOT_LISTED_GROUP,
    NOT_LISTED_GROUP_ID,
    VIRTUAL_GROUP_IDS,
    ContactRepository,
    ContactRow,
)
from smscast.db.database import Database
from smscast.db.groups import (
    FILTER_OPERATORS,
    GroupRepository,
    GroupSize,
    LabelFilter,
    filter_condition,
    in_groups,
    member_condition,
)
from smscast.db.schema import contacts
from smscast.domain.clock import Clock
from smscast.domain.errors import (
    AlreadyExists,
    ContactNotFound,
    GroupNotFound,
    InvalidFilters,
    validation_error,
)
from smscast.services.contacts import check_sort
from smscast.services.paging import Page

STRATEGIES: Final = ("None", "Filtered", "All")
GROUP_NAME_MAX = 100
#: Accepted spellings of the filter operators → Routee's name.
OPERATOR_ALIASES: Final = {
    **{name: name for name in FILTER_OPERATORS},
    "equals": "is",
    "not_equals": "is_not",
    "startsWith": "starts_with",
    "endsWith": "ends_with",
    "isNot": "is_not",
    "notEquals": "is_not",
}
_FORBIDDEN: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FilterInput:
    field_name: str | None
    search_term: str | None
    search_operator: str | None = None


def check_group_name(name: str, field: str = "name") -> str:
    """A group name: 1 to 100 characters, not only spaces, no control characters. Returned unchanged."""
    if not name.strip():
        raise validation_error(field, "A group needs a name")
    if len(name) > GROUP_NAME_MAX:
        raise validation_error(field, f"at most {GROUP_NAME_MAX} characters")
    if _FORBIDDEN.search(name):
        raise validation_error(field, "no control characters")
    return name


def _resolve(groups: GroupRepository, account_id: str, names: Sequence[str]) -> dict[str, int]:
    found = groups.find_by_names(account_id, names)
    for name in names:
        if name not in found:
            raise GroupNotFound(f"The group {name} does not exist")
    return found


def _real(name: str, field: str = "name") -> None:
    if name in VIRTUAL_GROUP_IDS:
        raise validation_error(field, f"{name} is a virtual group: its members follow the contacts")


class GroupService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # --- reading -----------------------------------------------------------------------------------

    def list_all(self, account_id: str) -> list[GroupSize]:
        """Every group with its size: ``All``, ``NotListed``, then the account's groups by name."""
        with self.db.read() as conn:
            groups = GroupRepository(conn)
            real, _ = groups.sizes(account_id)
            return self._virtual(groups, account_id) + real

    def page(
        self, account_id: str, page: int, size: int, sort: str | None, descending: bool
    ) -> Page[GroupSize]:
        """A page of ``list_all`` (the virtual groups stay first; ``sort`` may only be ``name``)."""
        if sort not in (None, "name"):
            raise validation_error("sort", "name")
        offset = page * size
        with self.db.read() as conn:
            groups = GroupRepository(conn)
            virtual = self._virtual(groups, account_id)[offset : offset + size]
            real_offset = max(0, offset - len(VIRTUAL_GROUP_IDS))
            real, total = groups.sizes(account_id, real_offset, size - len(virtual), descending=descending)
        return Page(virtual + real, total + len(VIRTUAL_GROUP_IDS), page, size)

    def get(self, account_id: str, name: str) -> GroupSize:
        with self.db.read() as conn:
            return self._size(GroupRepository(conn), account_id, name)

    def contacts(
        self, account_id: str, name: str, page: int, size: int, sort: str | None, descending: bool
    ) -> Page[ContactRow]:
        """A page of the group's contacts (404002003 if the group does not exist)."""
        check_sort(sort)
        with self.db.read() as conn:
            group_id = _resolve(GroupRepository(conn), account_id, [name])[name]
            repo = ContactRepository(conn)
            ids, total = repo.page_ids(
                member_condition(account_id, [group_id]), sort, descending, page * size, size
            )
            return Page(repo.rows(account_id, ids), total, page, size)

    # --- creating ----------------------------------------------------------------------------------

    def create(
        self, account_id: str, name: str, strategy: str | None, filters: Sequence[FilterInput]
    ) -> GroupSize:
        """A new group filled by ``strategy``: ``None`` (empty), ``All`` (every contact) or ``Filtered``
        (the contacts matching every filter). 400000000, 400002007 (filters), 409002005 (name taken)."""
        check_group_name(name)
        chosen = next((s for s in STRATEGIES if s.lower() == (strategy or "None").strip().lower()), None)
        if chosen is None:
            raise validation_error("strategy", f"one of {', '.join(STRATEGIES)}")
        with self.db.write() as conn:
            groups = GroupRepository(conn)
            specs: list[LabelFilter] = []
            if chosen == "Filtered":
                specs = self._filters(ContactRepository(conn), account_id, filters)
            self._require_free(groups, account_id, name)
            stored = (
                json.dumps(
                    [
                        {"fieldName": f.label, "searchTerm": f.term, "searchOperator": f.operator}
                        for f in specs
                    ]
                )
                if specs
                else None
            )
            group_id = self._insert(groups, account_id, name, chosen, stored)
            if chosen == "All":
                groups.add_members_where(group_id, contacts.c.account_id == account_id)
            elif chosen == "Filtered":
                groups.add_members_where(
                    group_id, sa.and_(contacts.c.account_id == account_id, filter_condition(specs))
                )
            return self._size(groups, account_id, name)

    def merge(self, account_id: str, name: str, group_names: Sequence[str]) -> GroupSize:
        """A new group of every contact in any of ``group_names``. 400000000, 404002003, 409002005."""
        return self._combine(account_id, name, group_names, difference=False)

    def difference(self, account_id: str, name: str, group_names: Sequence[str]) -> GroupSize:
        """A new group of the contacts of the first group that are in none of the others."""
        return self._combine(account_id, name, group_names, difference=True)

    def _combine(
        self, account_id: str, name: str, group_names: Sequence[str], *, difference: bool
    ) -> GroupSize:
        check_group_name(name)
        if not group_names:
            raise validation_error("groups", "At least one group is required")
        with self.db.write() as conn:
            groups = GroupRepository(conn)
            found = _resolve(groups, account_id, group_names)
            self._require_free(groups, account_id, name)
            ids = [found[n] for n in group_names]
            if difference:
                condition = sa.and_(
                    contacts.c.account_id == account_id, in_groups(ids[:1]), sa.not_(in_groups(ids[1:]))
                )
            else:
                condition = member_condition(account_id, ids)
            group_id = self._insert(groups, account_id, name, "None", None)
            groups.add_members_where(group_id, condition)
            return self._size(groups, account_id, name)

    # --- changing ----------------------------------------------------------------------------------

    def delete(self, account_id: str, names: Sequence[str], delete_contacts: bool) -> list[tuple[str, bool]]:
        """Delete groups (and with ``delete_contacts`` every contact in them). Returns ``(name, deleted
        contacts?)`` per group. 400000000 for a virtual group, 404002003 for an unknown one."""
        for name in names:
            _real(name, "groups")
        if not names:
            return []
        with self.db.write() as conn:
            groups = GroupRepository(conn)
            found = _resolve(groups, account_id, names)
            ids = sorted(set(found.values()))
            if delete_contacts:
                ContactRepository(conn).delete_where(member_condition(account_id, ids))
            groups.delete(ids)
        return [(name, delete_contacts) for name in dict.fromkeys(names)]

    def add_contacts(self, account_id: str, name: str, ids: Sequence[str]) -> GroupSize:
        """Add contacts to a group. 400000000 (virtual group), 404002003, 404002001 (nothing changes)."""
        return self._members(account_id, name, ids, add=True)

    def remove_contacts(self, account_id: str, name: str, ids: Sequence[str]) -> GroupSize:
        """Remove contacts from a group (ids that are not members are ignored; unknown ids → 404002001)."""
        return self._members(account_id, name, ids, add=False)

    def _members(self, account_id: str, name: str, ids: Sequence[str], *, add: bool) -> GroupSize:
        with self.db.write() as conn:
            groups = GroupRepository(conn)
            group_id = _resolve(groups, account_id, [name])[name]
            _real(name)
            repo = ContactRepository(conn)
            found = repo.existing_ids(account_id, ids)
            missing = [cid for cid in ids if cid not in found]
            if missing:
                raise ContactNotFound(f"Contact {missing[0]} not found")
            if add:
                groups.add_members(group_id, ids)
            else:
                groups.remove_members(group_id, ids)
            return self._size(groups, account_id, name)

    # --- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _virtual(groups: GroupRepository, account_id: str) -> list[GroupSize]:
        counts = groups.member_counts(account_id, [ALL_GROUP_ID, NOT_LISTED_GROUP_ID])
        return [
            GroupSize(ALL_GROUP, counts[ALL_GROUP_ID]),
            GroupSize(NOT_LISTED_GROUP, counts[NOT_LISTED_GROUP_ID]),
        ]

    @staticmethod
    def _size(groups: GroupRepository, account_id: str, name: str) -> GroupSize:
        group_id = _resolve(groups, account_id, [name])[name]
        return GroupSize(name, groups.member_counts(account_id, [group_id])[group_id])

    def _insert(
        self, groups: GroupRepository, account_id: str, name: str, strategy: str, filters: str | None
    ) -> int:
        try:
            return groups.insert(account_id, name, strategy, filters, self.clock.now())
        except UniqueViolation:
            raise AlreadyExists(f"A group named {name} already exists") from None

    @staticmethod
    def _require_free(groups: GroupRepository, account_id: str, name: str) -> None:
        if groups.find_by_names(account_id, [name]):
            raise AlreadyExists(f"A group named {name} already exists")

    @staticmethod
    def _filters(
        repo: ContactRepository, account_id: str, filters: Sequence[FilterInput]
    ) -> list[LabelFilter]:
        if not filters:
            raise InvalidFilters("The Filtered strategy needs at least one filter")
        labels = set(DEFAULT_LABELS) | set(repo.label_types(account_id))
        specs: list[LabelFilter] = []
        for index, f in enumerate(filters):
            if not f.field_name or f.field_name not in labels:
                raise InvalidFilters(
                    f"Filter {index}: unknown fieldName {f.field_name!r}",
                    {f"filters[{index}].fieldName": "a default or custom label name"},
                )
            operator = OPERATOR_ALIASES.get((f.search_operator or "is").strip())
            if operator is None:
                raise InvalidFilters(
                    f"Filter {index}: unknown searchOperator {f.search_operator!r}",
                    {f"filters[{index}].searchOperator": f"one of {', '.join(FILTER_OPERATORS)}"},
                )
            if f.search_term is None:
                raise InvalidFilters(
                    f"Filter {index}: searchTerm is required", {f"filters[{index}].searchTerm": "required"}
                )
            specs.append(LabelFilter(f.field_name, operator, f.search_term))
        return specs
