"""Contacts, custom labels and the blacklist (api.md §7): the use cases behind ``/contacts/…``.

Each method validates everything it can before writing, then does all its work in ONE write transaction,
so a request that fails changes nothing. Everything is scoped by the account id the caller passes.

Contact fields follow merge rules on update (``ContactChanges``): a field left out (``None``) is
unchanged, an empty string clears it; ``labels`` sets the labels it names (``None``/``""`` removes one)
and leaves the others. ``country`` is always derived from ``mobile`` (ISO 3166-1 alpha-2).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from smscast.db.blacklist import BlacklistRepository
from smscast.db.bulk import UniqueViolation
from smscast.db.contacts import (
    ALL_GROUP_ID,
    DEFAULT_LABELS,
    SORT_COLUMNS,
    ContactRepository,
    ContactRow,
    NewContact,
    text_condition,
)
from smscast.db.database import Database
from smscast.db.groups import GroupRepository, member_condition
from smscast.domain.clock import Clock
from smscast.domain.errors import (
    AlreadyExists,
    ContactNotFound,
    DuplicateLabelInRequest,
    GroupNotFound,
    InvalidLabels,
    LabelExists,
    validation_error,
)
from smscast.domain.numbers import parse_e164
from smscast.services.paging import Page

if TYPE_CHECKING:
    from smscast.services.contact_import import ImportResult

#: Blacklist services, spelled exactly as Routee does (path segment, case-sensitive).
BLACKLIST_SERVICES: Final = ("Sms", "Voice", "Viber", "TwoStep", "Lookup", "NumberValidator")
LABEL_TYPES: Final = ("Text", "Number")
#: Names a custom label may not take: the default labels, and ``vip`` (a contact field, and a CSV column).
RESERVED_LABELS: Final = frozenset((*DEFAULT_LABELS, "vip"))

NAME_MAX = 200
LABEL_NAME_MAX = 100
LABEL_VALUE_MAX = 1000
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LABEL_NAME_FORBIDDEN: Final = re.compile(r"[\[\]\x00-\x1f\x7f]")


def new_contact_id() -> str:
    """24 lowercase hex characters, like Routee's (MongoDB ObjectId-shaped) contact ids."""
    return secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """Contact fields from a request: ``None`` = not given, ``""`` = clear (see the module docstring)."""

    mobile: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    vip: bool | None = None
    labels: Sequence[tuple[str, str | None]] | None = None


# --- rules shared with the CSV import -------------------------------------------------------------------


def text_problem(value: str, max_len: int = NAME_MAX) -> str | None:
    if len(value) > max_len:
        return f"at most {max_len} characters"
    return None


def email_problem(value: str) -> str | None:
    if len(value) > NAME_MAX:
        return f"at most {NAME_MAX} characters"
    if not _EMAIL.fullmatch(value):
        return "not a valid e-mail address"
    return None


def is_number(value: str) -> bool:
    try:
        return Decimal(value.strip()).is_finite()
    except InvalidOperation:
        return False


def label_value_problem(kind: str, value: str) -> str | None:
    """Why ``value`` cannot be stored in a label of type ``kind``; ``None`` if it can."""
    if len(value) > LABEL_VALUE_MAX:
        return f"at most {LABEL_VALUE_MAX} characters"
    if kind == "Number" and not is_number(value):
        return f"not a number: {value}"
    return None


def label_name_problem(name: str) -> str | None:
    if not name.strip():
        return "a label needs a name"
    if len(name) > LABEL_NAME_MAX:
        return f"at most {LABEL_NAME_MAX} characters"
    if _LABEL_NAME_FORBIDDEN.search(name):
        return "a label name may not contain '[', ']' or control characters"
    return None


def check_service(service: str) -> str:
    if service not in BLACKLIST_SERVICES:
        raise validation_error("service", f"one of {', '.join(BLACKLIST_SERVICES)}")
    return service


def _column_values(changes: ContactChanges) -> dict[str, Any]:
    """Validated column values for the given default fields (400000000 on a bad one)."""
    values: dict[str, Any] = {}
    for field, column in (("firstName", "first_name"), ("lastName", "last_name"), ("email", "email")):
        raw: str | None = getattr(changes, column)
        if raw is None:
            continue
        value = raw.strip()
        problem = (email_problem(value) if field == "email" else text_problem(value)) if value else None
        if problem:
            raise validation_error(field, problem)
        values[column] = value or None
    if changes.vip is not None:
        values["vip"] = changes.vip
    return values


def _label_values(
    labels: Sequence[tuple[str, str | None]], types: Mapping[str, str]
) -> dict[str, str | None]:
    """name → value to store (``None`` = remove) for custom labels; 400002006 on any bad label."""
    out: dict[str, str | None] = {}
    for name, raw in labels:
        if name in out:
            raise InvalidLabels(
                f"The label {name} is given more than once", {f"labels.{name}": "given twice"}
            )
        if name in RESERVED_LABELS:
            raise InvalidLabels(
                f"{name} is a contact field, not a custom label", {f"labels.{name}": "set it as a field"}
            )
        kind = types.get(name)
        if kind is None:
            raise InvalidLabels(
                f"Unknown label {name}: create it with POST /contacts/labels/my first",
                {f"labels.{name}": "unknown label"},
            )
        value = None if raw is None or raw == "" else raw
        if value is not None:
            if kind == "Number":
                value = value.strip()
            problem = label_value_problem(kind, value)
            if problem:
                raise InvalidLabels(f"Label {name}: {problem}", {f"labels.{name}": problem})
        out[name] = value
    return out


class ContactService:
    def __init__(self, db: Database, clock: Clock, *, new_id: Callable[[], str] = new_contact_id) -> None:
        self.db = db
        self.clock = clock
        self.new_id = new_id

    # --- contacts ----------------------------------------------------------------------------------

    def create(self, account_id: str, changes: ContactChanges) -> ContactRow:
        """A new contact. 400000000 (fields), 400002006 (labels), 409002005 (mobile taken)."""
        if changes.mobile is None or not changes.mobile.strip():
            raise validation_error("mobile", "The mobile is required")
        number = parse_e164(changes.mobile.strip(), "mobile")
        values = _column_values(changes)
        with self.db.write() as conn:
            repo = ContactRepository(conn)
            labels = _label_values(changes.labels or (), repo.label_types(account_id))
            if repo.id_by_mobile(account_id, number.e164) is not None:
                raise AlreadyExists(f"A contact with mobile {number.e164} already exists")
            contact_id = self.new_id()
            self._insert(
                repo,
                account_id,
                [
                    NewContact(
                        id=contact_id,
                        mobile=number.e164,
                        country=number.region or None,
                        first_name=values.get("first_name"),
                        last_name=values.get("last_name"),
                        email=values.get("email"),
                        vip=bool(values.get("vip", False)),
                        labels={name: value for name, value in labels.items() if value is not None},
                    )
                ],
                self.clock.now(),
                number.e164,
            )
            return self._row(repo, account_id, contact_id)

    def get(self, account_id: str, contact_id: str) -> ContactRow:
        with self.db.read() as conn:
            return self._row(ContactRepository(conn), account_id, contact_id)

    def update(self, account_id: str, contact_id: str, changes: ContactChanges) -> ContactRow:
        """Merge ``changes`` into a contact. 400000000, 404002001, 400002006, 409002005 in that order."""
        number = None
        if changes.mobile is not None:
            if not changes.mobile.strip():
                raise validation_error("mobile", "The mobile is required")
            number = parse_e164(changes.mobile.strip(), "mobile")
        values = _column_values(changes)
        with self.db.write() as conn:
            repo = ContactRepository(conn)
            if not repo.exists(account_id, contact_id):
                raise ContactNotFound(f"Contact {contact_id} not found")
            labels = _label_values(changes.labels or (), repo.label_types(account_id))
            if number is not None:
                owner = repo.id_by_mobile(account_id, number.e164)
                if owner is not None and owner != contact_id:
                    raise AlreadyExists(f"A contact with mobile {number.e164} already exists")
                values.update(mobile=number.e164, country=number.region or None)
            try:
                repo.update(account_id, contact_id, values)
            except UniqueViolation:
                raise AlreadyExists(f"A contact with mobile {values['mobile']} already exists") from None
            if labels:
                repo.set_labels({contact_id: labels})
            return self._row(repo, account_id, contact_id)

    def delete(self, account_id: str, contact_id: str) -> ContactRow:
        """Delete one contact; returns it as it was (Routee answers the deleted contact)."""
        with self.db.write() as conn:
            repo = ContactRepository(conn)
            row = self._row(repo, account_id, contact_id)
            repo.delete(account_id, [contact_id])
            return row

    def delete_many(self, account_id: str, ids: Sequence[str]) -> list[str]:
        """Delete the account's contacts among ``ids``; unknown ids are skipped. Returns the deleted ids."""
        if not ids:
            return []
        with self.db.write() as conn:
            return ContactRepository(conn).delete(account_id, ids)

    def page(
        self,
        account_id: str,
        page: int,
        size: int,
        sort: str | None = None,
        descending: bool = False,
        text: str | None = None,
    ) -> Page[ContactRow]:
        """The account's contacts, oldest first unless ``sort`` names a default label or ``id``; with
        ``text``, only those whose mobile, name or e-mail contains it (ignoring case)."""
        check_sort(sort)
        condition = member_condition(account_id, [ALL_GROUP_ID])
        if text and text.strip():
            condition = sa.and_(condition, text_condition(text))
        with self.db.read() as conn:
            repo = ContactRepository(conn)
            ids, total = repo.page_ids(condition, sort, descending, page * size, size)
            return Page(repo.rows(account_id, ids), total, page, size)

    def mobile_exists(self, account_id: str, value: str) -> bool:
        """Whether a contact has this mobile. A leading ``+`` may be missing (an unencoded ``+`` in a query
        string arrives as a space)."""
        mobile = value.strip()
        if mobile and not mobile.startswith("+"):
            mobile = "+" + mobile
        with self.db.read() as conn:
            return ContactRepository(conn).id_by_mobile(account_id, mobile) is not None

    # --- labels ------------------------------------------------------------------------------------

    def labels(self, account_id: str) -> dict[str, str]:
        """Every label of the account, default ones first: name → ``Text``/``Number``."""
        with self.db.read() as conn:
            custom = ContactRepository(conn).label_types(account_id)
        return {**dict.fromkeys(DEFAULT_LABELS, "Text"), **custom}

    def create_labels(self, account_id: str, labels: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Define custom labels. 400000000 (name/type), 400002014 (named twice), 409002011 (exists)."""
        checked: list[tuple[str, str]] = []
        for index, (name, kind) in enumerate(labels):
            problem = label_name_problem(name)
            if problem:
                raise validation_error(f"[{index}].name", problem)
            canonical = next((t for t in LABEL_TYPES if t.lower() == kind.strip().lower()), None)
            if canonical is None:
                raise validation_error(f"[{index}].type", "Text or Number")
            checked.append((name, canonical))
        seen: set[str] = set()
        for name, _ in checked:
            if name in seen:
                raise DuplicateLabelInRequest(f"The label {name} is named more than once in the request")
            seen.add(name)
        if not checked:
            return []
        with self.db.write() as conn:
            repo = ContactRepository(conn)
            existing = repo.label_types(account_id)
            for name, _ in checked:
                if name in existing or name in RESERVED_LABELS:
                    raise LabelExists(f"The label {name} already exists")
            try:
                repo.insert_label_definitions(account_id, checked)
            except UniqueViolation:
                raise LabelExists("One of the labels was created by a concurrent request") from None
        return checked

    # --- blacklist ---------------------------------------------------------------------------------

    def blacklist_add(self, account_id: str, service: str, ids: Sequence[str]) -> int:
        """Blacklist contacts for ``service``; returns how many were not blacklisted for it yet.
        400000000 (service), 404002001 (any id unknown: nothing changes)."""
        check_service(service)
        with self.db.write() as conn:
            _require_contacts(ContactRepository(conn), account_id, ids)
            return BlacklistRepository(conn).blacklist_add(ids, service)

    def blacklist_remove(self, account_id: str, service: str, ids: Sequence[str]) -> int:
        """Take contacts off ``service``'s blacklist; returns how many were on it."""
        check_service(service)
        with self.db.write() as conn:
            _require_contacts(ContactRepository(conn), account_id, ids)
            return BlacklistRepository(conn).blacklist_remove(ids, service)

    def blacklist_remove_groups(self, account_id: str, service: str, group_names: Sequence[str]) -> int:
        """Take every member of the named groups off ``service``'s blacklist (404002003 if one is unknown)."""
        check_service(service)
        if not group_names:
            return 0
        with self.db.write() as conn:
            found = GroupRepository(conn).find_by_names(account_id, group_names)
            missing = [name for name in group_names if name not in found]
            if missing:
                raise GroupNotFound(f"The group {missing[0]} does not exist")
            return BlacklistRepository(conn).blacklist_remove_where(
                member_condition(account_id, found.values()), service
            )

    def blacklisted(self, account_id: str, service: str) -> list[ContactRow]:
        """The contacts blacklisted for ``service``, by id."""
        check_service(service)
        with self.db.read() as conn:
            ids = BlacklistRepository(conn).blacklisted_ids(account_id, service)
            return ContactRepository(conn).rows(account_id, ids)

    # --- bulk import -------------------------------------------------------------------------------

    def import_csv(self, account_id: str, data: bytes, group: str | None = None) -> ImportResult:
        """See ``services.contact_import.import_contacts``."""
        # Imported here: contact_import builds on this module's field rules.
        from smscast.services.contact_import import import_contacts

        return import_contacts(self.db, self.clock, self.new_id, account_id, data, group)

    @staticmethod
    def _insert(
        repo: ContactRepository, account_id: str, new: list[NewContact], now: datetime, mobile: str
    ) -> None:
        try:
            repo.insert(account_id, new, now)
        except UniqueViolation:
            raise AlreadyExists(f"A contact with mobile {mobile} already exists") from None

    @staticmethod
    def _row(repo: ContactRepository, account_id: str, contact_id: str) -> ContactRow:
        row = repo.get(account_id, contact_id)
        if row is None:
            raise ContactNotFound(f"Contact {contact_id} not found")
        return row


def check_sort(sort: str | None) -> None:
    if sort is not None and sort not in SORT_COLUMNS:
        raise validation_error("sort", f"one of {', '.join(SORT_COLUMNS)}")


def _require_contacts(repo: ContactRepository, account_id: str, ids: Sequence[str]) -> None:
    found = repo.existing_ids(account_id, ids)
    missing = [cid for cid in ids if cid not in found]
    if missing:
        raise ContactNotFound(f"Contact {missing[0]} not found")
