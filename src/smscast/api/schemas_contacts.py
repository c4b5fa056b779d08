"""Wire schemas of the contact, label, group and blacklist endpoints (api.md §7), and their JSON shapes.

Loose client input (api.md §1.0) is accepted here, so services see clean values:
- bodies that are lists of ids arrive as ``["id", …]``, ``[{"id": …}, …]``, a single id, or an object
  holding the list (``{"contacts": […]}``, ``{"ids": […]}``, ``{"groups": […]}``, ``{"names": […]}``); no
  body, ``null`` and ``{}`` mean an empty list;
- group names may be numbers (``[1]`` is the group named ``1``) or ``{"name": …}`` objects;
- booleans may be ``"true"``/``"false"``; label values may be numbers or booleans (stored as text);
- ``labels`` may be ``[{"name", "value"}]`` or an object ``{"name": value}``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from smscast.api.wire import WireModel
from smscast.db.contacts import ContactRow
from smscast.db.groups import GroupSize
from smscast.domain.errors import validation_error
from smscast.services.contact_import import ImportResult
from smscast.services.contacts import ContactChanges
from smscast.services.groups import FilterInput

_LIST_KEYS = ("contacts", "ids", "groups", "names")


def _scalar_text(value: Any) -> Any:
    """Numbers and booleans as text (``12`` → ``"12"``, ``true`` → ``"true"``); other values unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _labels(value: Any) -> Any:
    if isinstance(value, dict):
        return [{"name": name, "value": item} for name, item in value.items()]
    return value


def _names(value: Any) -> Any:
    if isinstance(value, list):
        return [_scalar_text(item.get("name") if isinstance(item, dict) else item) for item in value]
    return value


LooseText = Annotated[str, BeforeValidator(_scalar_text)]
NameList = Annotated[list[LooseText], BeforeValidator(_names)]


class LabelValueIn(WireModel):
    name: LooseText
    value: Annotated[str | None, BeforeValidator(_scalar_text)] = None


class ContactIn(WireModel):
    """``POST /contacts/my`` and ``PUT /contacts/my/{id}``. ``country``, ``id``, ``groups`` are ignored."""

    mobile: LooseText | None = None
    first_name: LooseText | None = None
    last_name: LooseText | None = None
    email: str | None = None
    vip: bool | None = None
    labels: Annotated[list[LabelValueIn] | None, BeforeValidator(_labels)] = None

    def changes(self) -> ContactChanges:
        labels = None if self.labels is None else [(label.name, label.value) for label in self.labels]
        return ContactChanges(self.mobile, self.first_name, self.last_name, self.email, self.vip, labels)


class LabelDefinitionIn(WireModel):
    name: LooseText
    type: str = "Text"


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


LabelDefinitions = Annotated[list[LabelDefinitionIn], BeforeValidator(_one_or_many)]


class FilterIn(WireModel):
    field_name: LooseText | None = None
    search_term: LooseText | None = None
    search_operator: str | None = None


class GroupIn(WireModel):
    name: LooseText
    strategy: str | None = None
    filters: list[FilterIn] | None = None

    def filter_inputs(self) -> list[FilterInput]:
        return [FilterInput(f.field_name, f.search_term, f.search_operator) for f in self.filters or ()]


class GroupSetIn(WireModel):
    """``POST /groups/my/merge`` and ``/difference``: the new group's name and the groups to combine."""

    name: LooseText
    groups: NameList = Field(default_factory=list)


def _items(body: Any, field: str) -> list[Any]:
    if isinstance(body, bytes | bytearray):  # a JSON body sent without a JSON content type
        if not body.strip():
            return []
        try:
            body = json.loads(body)
        except ValueError:
            raise validation_error("body", "Malformed JSON") from None
    if body is None:
        return []
    if isinstance(body, dict):
        if not body:
            return []
        for key in _LIST_KEYS:
            if key in body:
                return _items(body[key], field) if isinstance(body[key], list) else [body[key]]
        return [body]
    if isinstance(body, list):
        return body
    return [body]


def id_list(body: Any, field: str = "contacts") -> list[str]:
    """Contact ids from a loosely shaped body (see the module docstring), de-duplicated, in order."""
    ids: list[str] = []
    for index, item in enumerate(_items(body, field)):
        value = _scalar_text(item.get("id") if isinstance(item, dict) else item)
        if not isinstance(value, str) or not value:
            raise validation_error(f"{field}[{index}]", "expected a contact id")
        ids.append(value)
    return list(dict.fromkeys(ids))


def name_list(body: Any, field: str = "groups") -> list[str]:
    """Group names from a loosely shaped body (numbers are names too), de-duplicated, in order."""
    names: list[str] = []
    for index, item in enumerate(_items(body, field)):
        value = _scalar_text(item.get("name") if isinstance(item, dict) else item)
        if not isinstance(value, str) or not value:
            raise validation_error(f"{field}[{index}]", "expected a group name")
        names.append(value)
    return list(dict.fromkeys(names))


# --- responses ----------------------------------------------------------------------------------------


def contact_body(row: ContactRow) -> dict[str, Any]:
    """A contact as Routee shows it; absent optional fields are omitted."""
    body: dict[str, Any] = {"id": row.id}
    for key, value in (("firstName", row.first_name), ("lastName", row.last_name)):
        if value is not None:
            body[key] = value
    body["mobile"] = row.mobile
    if row.email is not None:
        body["email"] = row.email
    if row.country:
        body["country"] = row.country
    body["vip"] = row.vip
    body["groups"] = list(row.groups)
    body["blacklistedServices"] = list(row.blacklisted_services)
    body["labels"] = [{"name": label.name, "type": label.type, "value": label.value} for label in row.labels]
    return body


def group_body(group: GroupSize) -> dict[str, Any]:
    return {"name": group.name, "size": group.size}


def import_body(result: ImportResult) -> dict[str, Any]:
    return {
        "created": result.created,
        "updated": result.updated,
        "failed": [{"line": failure.line, "reason": failure.reason} for failure in result.failed],
    }
