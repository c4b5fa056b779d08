"""Campaigns: the state machine (api.md §4.8), written once as data, and the campaign definition (§4.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from smscast.domain.errors import ValidationFailed


class CampaignState(StrEnum):
    SCHEDULED = "Scheduled"
    QUEUED = "Queued"
    RUNNING = "Running"
    SENT = "Sent"
    FINISHED = "Finished"
    CANCELLED = "Cancelled"
    FAILED = "Failed"


S = CampaignState
ALLOWED_TRANSITIONS: Mapping[CampaignState, frozenset[CampaignState]] = {
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED, S.FAILED}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED}),
    S.RUNNING: frozenset({S.SENT, S.FAILED}),
    S.SENT: frozenset({S.FINISHED, S.FAILED}),
    S.FINISHED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
EDITABLE_STATES = frozenset({S.SCHEDULED})
# States a campaign never leaves: Finished, Cancelled, Failed.
SETTLED_STATES = frozenset(state for state, targets in ALLOWED_TRANSITIONS.items() if not targets)


def can_transition(current: CampaignState, target: CampaignState) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def sources_of(target: CampaignState) -> frozenset[CampaignState]:
    """Every state from which ``target`` may be reached: the WHERE clause of a compare-and-set."""
    return frozenset(state for state, targets in ALLOWED_TRANSITIONS.items() if target in targets)


class CallbackStrategy(StrEnum):
    ON_CHANGE = "OnChange"
    ON_COMPLETION = "OnCompletion"


MAX_TO_NUMBERS = 30_000
MAX_BODY_CHARACTERS = 1600
NAME_PATTERN = re.compile(r"[A-Za-z0-9 \-]{2,30}")
_BLOCKED_CALLBACK_HOSTS = frozenset(
    {"169.254.169.254", "metadata.google.internal", "metadata", "fd00:ec2::254"}
)


@dataclass(frozen=True, slots=True)
class Callback:
    url: str
    strategy: CallbackStrategy

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "strategy": self.strategy.value}


@dataclass(frozen=True, slots=True)
class Reminder:
    minutes_before: int | None
    minutes_after: int | None
    to: tuple[str, ...]

    def moments(self, scheduled: datetime) -> tuple[datetime | None, datetime | None]:
        """When the reminders of a campaign scheduled at ``scheduled`` are due: ``minutesBefore`` it and
        ``minutesAfter`` it (``None``: no such reminder)."""
        before = None if self.minutes_before is None else scheduled - timedelta(minutes=self.minutes_before)
        after = None if self.minutes_after is None else scheduled + timedelta(minutes=self.minutes_after)
        return before, after

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"to": list(self.to)}
        if self.minutes_before is not None:
            out["minutesBefore"] = self.minutes_before
        if self.minutes_after is not None:
            out["minutesAfter"] = self.minutes_after
        return out


@dataclass(frozen=True, slots=True)
class CampaignDefinition:
    """A campaign's full definition: what create stores and what update replaces as a whole."""

    body: str
    sender: str
    to: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    scheduled_date: datetime | None = None
    name: str | None = None
    flash: bool = False
    respect_quiet_hours: bool = False
    callback: Callback | None = None
    campaign_callback: Callback | None = None
    reminder: Reminder | None = None
    fallback_values: Mapping[str, str] = field(default_factory=dict)
    transcode: bool | None = None

    @property
    def has_recipients(self) -> bool:
        return bool(self.to or self.contacts or self.groups)

    def to_json(self) -> dict[str, Any]:
        """The stored form (camelCase, as on the wire)."""
        out: dict[str, Any] = {
            "body": self.body,
            "from": self.sender,
            "to": list(self.to),
            "contacts": list(self.contacts),
            "groups": list(self.groups),
            "flash": self.flash,
            "respectQuietHours": self.respect_quiet_hours,
            "fallbackValues": dict(self.fallback_values),
        }
        if self.scheduled_date is not None:
            out["scheduledDate"] = self.scheduled_date.isoformat()
        if self.name is not None:
            out["campaignName"] = self.name
        if self.callback is not None:
            out["callback"] = self.callback.to_json()
        if self.campaign_callback is not None:
            out["campaignCallback"] = self.campaign_callback.to_json()
        if self.reminder is not None:
            out["reminder"] = self.reminder.to_json()
        if self.transcode is not None:
            out["transcode"] = self.transcode
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CampaignDefinition:
        def callback(value: Any) -> Callback | None:
            return None if value is None else Callback(value["url"], CallbackStrategy(value["strategy"]))

        reminder = data.get("reminder")
        scheduled = data.get("scheduledDate")
        return cls(
            body=data["body"],
            sender=data["from"],
            to=tuple(data.get("to", ())),
            contacts=tuple(data.get("contacts", ())),
            groups=tuple(data.get("groups", ())),
            scheduled_date=datetime.fromisoformat(scheduled) if scheduled else None,
            name=data.get("campaignName"),
            flash=bool(data.get("flash", False)),
            respect_quiet_hours=bool(data.get("respectQuietHours", False)),
            callback=callback(data.get("callback")),
            campaign_callback=callback(data.get("campaignCallback")),
            reminder=None
            if reminder is None
            else Reminder(reminder.get("minutesBefore"), reminder.get("minutesAfter"), tuple(reminder["to"])),
            fallback_values=dict(data.get("fallbackValues", {})),
            transcode=data.get("transcode"),
        )


def check_name(name: str | None) -> str | None:
    """``campaignName``: 2–30 latin letters, digits, spaces and ``-``; ``None`` stays ``None``."""
    if name is None:
        return None
    if not NAME_PATTERN.fullmatch(name):
        raise _invalid("campaignName", "must be 2 to 30 characters of latin letters, digits, spaces and -")
    return name


def check_callback_url(url: str, field: str, *, allow_private: bool, own_hosts: frozenset[str]) -> str:
    """An absolute http(s) URL. Unless the operator allows private callbacks, link-local and cloud
    metadata addresses are refused, and so is the smscast server itself (``own_hosts``: ``host:port``)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _invalid(field, "must be an absolute http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(field, "must be an absolute http or https URL")
    host = parts.hostname.lower()
    if not allow_private:
        if host in _BLOCKED_CALLBACK_HOSTS or host.startswith("169.254.") or host.startswith("fe80:"):
            raise _invalid(field, "link-local and metadata addresses are not allowed")
        if f"{host}:{port}" in own_hosts:
            raise _invalid(field, "callbacks to the smscast server itself are not allowed")
    return url


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field_name}: {message}", {field_name: message})


def check_definition(definition: CampaignDefinition) -> None:
    """The field rules of api.md §4.1 that need no database (400000000 naming the field)."""
    if len(definition.body) > MAX_BODY_CHARACTERS:
        raise _invalid("body", f"must be at most {MAX_BODY_CHARACTERS} characters")
    if not definition.body:
        raise _invalid("body", "must not be empty")
    if len(definition.to) > MAX_TO_NUMBERS:
        raise _invalid("to", f"at most {MAX_TO_NUMBERS} numbers")
    check_name(definition.name)
    reminder = definition.reminder
    if reminder is not None:
        if definition.scheduled_date is None:
            raise _invalid("reminder", "a reminder needs scheduledDate")
        if reminder.minutes_before is None and reminder.minutes_after is None:
            raise _invalid("reminder", "set minutesBefore and/or minutesAfter")
        for name, value in (
            ("minutesBefore", reminder.minutes_before),
            ("minutesAfter", reminder.minutes_after),
        ):
            if value is not None and not 1 <= value <= 10080:
                raise _invalid(f"reminder.{name}", "must be between 1 and 10080 minutes")
        if not reminder.to:
            raise _invalid("reminder.to", "at least one number")
