"""Bulk contact import from CSV: ``POST /contacts/my/import`` (smscast; api.md §7).

Input: UTF-8 text (a byte-order mark is skipped), comma-separated (``;`` or tab when the header row has no
comma), RFC 4180 quoting. The header row names the columns: ``mobile`` (required) and any of
``firstName``, ``lastName``, ``email``, ``vip``, ``country`` and the account's custom labels. Header names
match exactly, else ignoring case when that is unambiguous. ``country`` is accepted and ignored: it is
always derived from the mobile.

Each data row either creates a contact (new mobile) or updates the contact that has that mobile: its
non-blank cells overwrite, blank cells change nothing. A mobile without ``+`` but otherwise digits gets one
(spreadsheets drop it). Rows that cannot be used are reported in ``failed`` with their line number in
the file (the header is line 1) and nothing from them is written; the other rows are imported. Blank lines
are skipped. A mobile repeated in the file fails on its later lines.

Errors that concern the whole request change nothing: an empty, non-UTF-8 or badly quoted body, a header
without ``mobile``, an empty or repeated header name, or a bad ``group`` name → 400000000; a header naming
an unknown label → 400002006.

With ``group``, every imported contact (created or updated) becomes a member of that group, which is
created (strategy ``None``) when missing; ``All`` is accepted and changes nothing; ``NotListed`` is
400000000.

Cost: the numbers are validated grouped by country calling code (``domain.numbers``), existing mobiles
are looked up in chunks, and contacts, labels and memberships are written with executemany, all in one
write transaction: no statement per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from smscast.db.bulk import UniqueViolation
from smscast.db.contacts import ALL_GROUP, NOT_LISTED_GROUP, ContactRepository, NewContact
from smscast.db.database import Database
from smscast.db.groups import GroupRepository
from smscast.domain.clock import Clock
from smscast.domain.errors import AlreadyExists, InvalidLabels, ValidationFailed, validation_error
from smscast.domain.numbers import country_calling_code, parse_e164
from smscast.services.contacts import email_problem, label_value_problem, text_problem
from smscast.services.groups import check_group_name

_FIELD_COLUMNS: Final = {
    "mobile": "mobile",
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "vip": "vip",
    "country": "country",
}
_TRUE: Final = frozenset(("true", "1", "yes", "y", "t"))
_FALSE: Final = frozenset(("false", "0", "no", "n", "f"))


@dataclass(frozen=True, slots=True)
class ImportFailure:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    failed: list[ImportFailure]


@dataclass(slots=True)
class _Row:
    line: int
    mobile: str
    fields: dict[str, str | bool | None]
    labels: dict[str, str] = field(default_factory=dict)
    country: str | None = None


@dataclass(frozen=True, slots=True)
class _Column:
    kind: str  # "mobile", "first_name", "last_name", "email", "vip", "country" or "label"
    name: str  # the label name for kind "label"


def import_contacts(
    db: Database,
    clock: Clock,
    new_id: Callable[[], str],
    account_id: str,
    data: bytes,
    group: str | None,
) -> ImportResult:
    """Import ``data`` (CSV bytes) into ``account_id``'s contacts; see the module docstring."""
    if group is not None:
        group = check_group_name(group, "group")
        if group == NOT_LISTED_GROUP:
            raise validation_error("group", "NotListed is a virtual group: its members follow the contacts")
    header, records = _read(data)
    with db.read() as conn:
        types = ContactRepository(conn).label_types(account_id)
    columns = _resolve_columns(header, types)
    rows, failures = _parse_rows(records, columns, types)
    rows = _validate_mobiles(rows, failures)
    failures.sort(key=lambda failure: failure.line)

    with db.write() as conn:
        repo = ContactRepository(conn)
        existing = repo.ids_by_mobiles(account_id, [row.mobile for row in rows])
        created: list[NewContact] = []
        updated: list[tuple[str, _Row]] = []
        for row in rows:
            contact_id = existing.get(row.mobile)
            if contact_id is None:
                created.append(
                    NewContact(
                        id=new_id(),
                        mobile=row.mobile,
                        country=row.country,
                        first_name=_text(row.fields.get("first_name")),
                        last_name=_text(row.fields.get("last_name")),
                        email=_text(row.fields.get("email")),
                        vip=row.fields.get("vip") is True,
                        labels=row.labels,
                    )
                )
            else:
                updated.append((contact_id, row))
        try:
            repo.insert(account_id, created, clock.now())
        except UniqueViolation:
            raise AlreadyExists(
                "A concurrent request created contacts with some of these mobiles; retry"
            ) from None
        repo.update_many_keeping_blanks(
            [
                {
                    "id": contact_id,
                    "first_name": row.fields.get("first_name"),
                    "last_name": row.fields.get("last_name"),
                    "email": row.fields.get("email"),
                    "vip": row.fields.get("vip"),
                }
                for contact_id, row in updated
            ]
        )
        repo.set_labels({contact_id: dict(row.labels) for contact_id, row in updated if row.labels})
        if group is not None and group != ALL_GROUP:
            groups = GroupRepository(conn)
            group_id = groups.find_by_names(account_id, [group]).get(group)
            if group_id is None:
                try:
                    group_id = groups.insert(account_id, group, "None", None, clock.now())
                except UniqueViolation:
                    raise AlreadyExists(f"A concurrent request created the group {group}; retry") from None
            groups.add_members(group_id, [c.id for c in created] + [contact_id for contact_id, _ in updated])
    return ImportResult(len(created), len(updated), failures)


def _text(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) else None


def _read(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header cells and the data records (line number, cells) of a CSV body."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise validation_error("body", "The CSV must be UTF-8 text") from None
    if not text.strip():
        raise validation_error("body", "The CSV is empty: a header row with a mobile column is required")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = ";" if ";" in first_line else "\t" if "\t" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        header: list[str] = []
        while not header:  # leading blank lines
            header = next(reader)
        previous = reader.line_num
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
    except StopIteration:
        raise validation_error("body", "The CSV has no header row") from None
    except csv.Error as exc:
        raise validation_error("body", f"Malformed CSV near line {reader.line_num}: {exc}") from None
    return [cell.strip() for cell in header], records


def _resolve_columns(header: Sequence[str], types: Mapping[str, str]) -> list[_Column]:
    known = {name: _Column(kind, name) for name, kind in _FIELD_COLUMNS.items()}
    known.update({name: _Column("label", name) for name in types if name not in known})
    folded: dict[str, list[_Column]] = {}
    for name, column in known.items():
        folded.setdefault(name.casefold(), []).append(column)
    columns: list[_Column] = []
    for index, name in enumerate(header, start=1):
        if not name:
            raise validation_error("header", f"Column {index} has no name")
        exact = known.get(name)
        candidates = [exact] if exact is not None else folded.get(name.casefold(), [])
        if len(candidates) != 1:
            raise InvalidLabels(
                f"Unknown label {name}: create it with POST /contacts/labels/my first",
                {name: "unknown label" if not candidates else "ambiguous label name"},
            )
        column = candidates[0]
        if column in columns:
            raise validation_error("header", f"The column {column.name} appears more than once")
        columns.append(column)
    if not any(column.kind == "mobile" for column in columns):
        raise validation_error("mobile", "The header row needs a mobile column")
    return columns


def _parse_rows(
    records: Sequence[tuple[int, list[str]]], columns: Sequence[_Column], types: Mapping[str, str]
) -> tuple[list[_Row], list[ImportFailure]]:
    rows: list[_Row] = []
    failures: list[ImportFailure] = []
    width = len(columns)
    for line, cells in records:
        if len(cells) != width:
            failures.append(ImportFailure(line, f"Expected {width} values, found {len(cells)}"))
            continue
        row = _Row(line, "", {})
        problem = None
        for column, raw in zip(columns, cells, strict=True):
            problem = _apply(row, column, raw.strip(), types)
            if problem:
                break
        if problem:
            failures.append(ImportFailure(line, problem))
        elif not row.mobile:
            failures.append(ImportFailure(line, "mobile: The mobile is required"))
        else:
            rows.append(row)
    return rows, failures


def _apply(row: _Row, column: _Column, value: str, types: Mapping[str, str]) -> str | None:
    """Put one cell into ``row``; returns why it cannot be used, or ``None``."""
    if column.kind == "mobile":
        row.mobile = "+" + value if value.isdigit() else value
        return None
    if not value or column.kind == "country":
        return None
    if column.kind == "vip":
        lowered = value.lower()
        if lowered not in _TRUE and lowered not in _FALSE:
            return "vip: expected true or false"
        row.fields["vip"] = lowered in _TRUE
        return None
    if column.kind == "label":
        problem = label_value_problem(types[column.name], value)
        if problem:
            return f"{column.name}: {problem}"
        row.labels[column.name] = value
        return None
    problem = email_problem(value) if column.kind == "email" else text_problem(value)
    if problem:
        return f"{column.name}: {problem}"
    row.fields[column.kind] = value
    return None


def _validate_mobiles(rows: Sequence[_Row], failures: list[ImportFailure]) -> list[_Row]:
    """Rows whose mobile is valid and first seen in the file, in line order; the others go to ``failures``.

    Numbers are checked grouped by country calling code: libphonenumber's patterns stay hot that way
    (see ``domain.numbers``), about ten times faster than in arrival order on mixed lists.
    """
    keyed: list[tuple[int, _Row]] = []
    for row in rows:
        try:
            keyed.append((country_calling_code(row.mobile), row))
        except ValueError:
            failures.append(ImportFailure(row.line, f"mobile: Invalid phone number: {row.mobile}"))
    keyed.sort(key=lambda item: item[0])
    valid: list[_Row] = []
    for _, row in keyed:
        try:
            row.country = parse_e164(row.mobile, "mobile").region or None
        except ValidationFailed:
            failures.append(ImportFailure(row.line, f"mobile: Invalid phone number: {row.mobile}"))
            continue
        valid.append(row)
    valid.sort(key=lambda row: row.line)
    first_line: dict[str, int] = {}
    out: list[_Row] = []
    for row in valid:
        seen = first_line.setdefault(row.mobile, row.line)
        if seen != row.line:
            failures.append(ImportFailure(row.line, f"mobile: {row.mobile} already appears on line {seen}"))
        else:
            out.append(row)
    return out
