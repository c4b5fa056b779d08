"""The campaign form: HTML form fields ⇄ the API's campaign body, and errors ⇄ the fields they concern.

A submitted form becomes exactly the JSON body ``POST /sms/campaign`` takes, parsed by the same schema
(``CampaignIn``) into the same ``CampaignDefinition``, so the dashboard and the API share every rule and
every message. What the form cannot express (callbacks, reminder) is carried over unchanged on edit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from starlette.datastructures import FormData

from smscast.api.errors import validation_properties
from smscast.api.schemas.campaigns import CampaignIn
from smscast.domain.campaigns import CampaignDefinition
from smscast.domain.errors import DomainError

#: Form fields in page order, with the label the error summary uses.
FIELDS: Final = {
    "campaignName": "Campaign name",
    "from": "Sender",
    "body": "Message",
    "to": "Numbers",
    "groups": "Groups",
    "contacts": "Contact ids",
    "scheduledDate": "Send at",
    "timeZone": "Time zone",
    "flash": "Flash SMS",
    "respectQuietHours": "Respect quiet hours",
    "transcode": "Transcoding",
    "fallbackValues": "Fallback values",
}
#: Errors that carry no ``properties`` but clearly concern one field.
_CODE_FIELDS: Final = {"409009003": "campaignName"}
_LIST_SPLIT: Final = re.compile(r"[\s,;]+")
#: How far in the past a "send at" may be before the form refuses it (the API would send at once).
PAST_TOLERANCE: Final = timedelta(minutes=1)


@dataclass
class FormErrors(Exception):
    """Problems to show: ``fields`` next to the fields they concern, ``general`` above the form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def summary(self) -> list[tuple[str | None, str]]:
        """(field id or None, text) for the error summary, in page order."""
        ordered = [(name, f"{FIELDS[name]}: {self.fields[name]}") for name in FIELDS if name in self.fields]
        return ordered + [(None, text) for text in self.general]


def errors_of(exc: DomainError) -> FormErrors:
    """Place a service error next to the field(s) it names; the rest goes above the form."""
    errors = FormErrors()
    for key, message in exc.properties.items():
        name = _field_of(key)
        if name is None:
            errors.general.append(f"{key}: {message}")
        else:
            errors.fields.setdefault(name, message)
    if not exc.properties:
        name = _CODE_FIELDS.get(exc.code)
        if name is not None:
            errors.fields[name] = exc.message
        else:
            errors.general.append(exc.message)
    return errors


def _field_of(key: str) -> str | None:
    head = re.split(r"[.\[]", key, maxsplit=1)[0]
    return head if head in FIELDS else None


def empty_values() -> dict[str, Any]:
    return {
        "campaignName": "",
        "from": "",
        "body": "",
        "to": "",
        "groups": [],
        "contacts": "",
        "scheduledDate": "",
        "timeZone": "",
        "flash": False,
        "respectQuietHours": False,
        "transcode": "",
        "fallbackValues": "",
    }


def values_from_form(form: FormData) -> dict[str, Any]:
    """The submitted values, as the form shows them again (strings, booleans, the list of groups)."""
    values = empty_values()
    for name in ("campaignName", "from", "body", "to", "contacts", "scheduledDate", "timeZone"):
        raw = form.get(name)
        values[name] = raw if isinstance(raw, str) else ""
    values["body"] = values["body"].replace("\r\n", "\n")
    values["fallbackValues"] = _text(form.get("fallbackValues")).replace("\r\n", "\n")
    values["groups"] = [g for g in form.getlist("groups") if isinstance(g, str)]
    values["flash"] = form.get("flash") is not None
    values["respectQuietHours"] = form.get("respectQuietHours") is not None
    transcode = _text(form.get("transcode"))
    values["transcode"] = transcode if transcode in ("true", "false") else ""
    return values


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def values_from_definition(definition: CampaignDefinition, scheduled: datetime | None) -> dict[str, Any]:
    """A stored campaign as the edit form shows it (the send time in UTC)."""
    values = empty_values()
    values.update(
        campaignName=definition.name or "",
        body=definition.body,
        to="\n".join(definition.to),
        groups=list(definition.groups),
        contacts=" ".join(definition.contacts),
        flash=definition.flash,
        respectQuietHours=definition.respect_quiet_hours,
        transcode="" if definition.transcode is None else str(definition.transcode).lower(),
        fallbackValues="\n".join(f"{k}={v}" for k, v in definition.fallback_values.items()),
    )
    values["from"] = definition.sender
    if scheduled is not None:
        values["scheduledDate"] = scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        values["timeZone"] = "UTC"
    return values


def definition_from_values(
    values: Mapping[str, Any], now: datetime, keep: CampaignDefinition | None = None
) -> CampaignDefinition:
    """Parse the form as the API parses its body. ``keep``: the stored campaign whose callbacks and
    reminder the form carries over. Raises ``FormErrors``."""
    errors = FormErrors()
    body: dict[str, Any] = {
        "body": values["body"],
        "from": values["from"],
        "flash": bool(values["flash"]),
        "respectQuietHours": bool(values["respectQuietHours"]),
    }
    if values["campaignName"].strip():
        body["campaignName"] = values["campaignName"].strip()
    for name in ("to", "contacts"):
        items = [item for item in _LIST_SPLIT.split(values[name]) if item]
        if items:
            body[name] = items
    if values["groups"]:
        body["groups"] = list(values["groups"])
    if values["transcode"]:
        body["transcode"] = values["transcode"] == "true"
    scheduled = _scheduled(values, now, errors)
    if scheduled is not None:
        body["scheduledDate"] = scheduled.isoformat()
    fallback = _fallback_values(values["fallbackValues"], errors)
    if fallback:
        body["fallbackValues"] = fallback
    if keep is not None:
        stored = keep.to_json()
        for key in ("callback", "campaignCallback", "reminder"):
            if key in stored:
                body[key] = stored[key]
    if errors.fields:
        raise errors
    try:
        return CampaignIn.model_validate(body).to_domain()
    except ValidationError as exc:
        raise errors_of(DomainError("Validation failed", validation_properties(list(exc.errors())))) from None


def _scheduled(values: Mapping[str, Any], now: datetime, errors: FormErrors) -> datetime | None:
    text = values["scheduledDate"].strip()
    zone_name = values["timeZone"].strip() or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        errors.fields["timeZone"] = f"Unknown time zone {zone_name!r}: use a name such as Europe/Athens"
        return None
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        errors.fields["scheduledDate"] = "Use the form YYYY-MM-DDThh:mm"
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    if local < now - PAST_TOLERANCE:
        errors.fields["scheduledDate"] = (
            "This time has passed: pick a later one, or leave it empty to send now"
        )
        return None
    return local


def _fallback_values(text: str, errors: FormErrors) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, value = line.partition("=")
        if not sep or not label.strip():
            errors.fields["fallbackValues"] = f"Line {number}: write label=value"
            return {}
        out[label.strip()] = value
    return out
