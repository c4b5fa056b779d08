"""Request schemas of the campaign and single-SMS endpoints (api.md §3.2, §4.1)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field

from smscast.api.wire import IdList, InstantIn, WireModel
from smscast.domain.campaigns import (
    Callback,
    CallbackStrategy,
    CampaignDefinition,
    Reminder,
)


class CallbackIn(WireModel):
    url: str
    strategy: Literal["OnChange", "OnCompletion"] = "OnChange"

    def to_domain(self) -> Callback:
        return Callback(self.url, CallbackStrategy(self.strategy))


class ReminderIn(WireModel):
    minutes_before: int | None = None
    minutes_after: int | None = None
    to: list[str] = Field(default_factory=list, validation_alias=AliasChoices("to", "recipients"))


def _fallback_values(value: Any) -> Any:
    """An object ``{label: value}``; a list of such objects is merged (some clients send an array)."""
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, dict):
                raise ValueError("fallbackValues is an object of label → text")
            merged.update(item)
        return merged
    return value


FallbackValues = Annotated[dict[str, str], BeforeValidator(_fallback_values)]


class CampaignIn(WireModel):
    """``POST /sms/campaign`` and ``PUT /sms/{trackingId}`` body."""

    body: str
    from_: str = Field(alias="from")
    to: list[str] | None = None
    contacts: IdList | None = None
    groups: list[str] | None = None
    scheduled_date: InstantIn | None = None
    campaign_name: str | None = None
    flash: bool = False
    respect_quiet_hours: bool = False
    callback: CallbackIn | None = None
    campaign_callback: CallbackIn | None = None
    reminder: ReminderIn | None = None
    fallback_values: FallbackValues | None = None
    transcode: bool | None = None

    def to_domain(self) -> CampaignDefinition:
        reminder = self.reminder
        return CampaignDefinition(
            body=self.body,
            sender=self.from_,
            to=tuple(self.to or ()),
            contacts=tuple(self.contacts or ()),
            groups=tuple(self.groups or ()),
            scheduled_date=self.scheduled_date,
            name=self.campaign_name,
            flash=self.flash,
            respect_quiet_hours=self.respect_quiet_hours,
            callback=self.callback.to_domain() if self.callback else None,
            campaign_callback=self.campaign_callback.to_domain() if self.campaign_callback else None,
            reminder=None
            if reminder is None
            else Reminder(reminder.minutes_before, reminder.minutes_after, tuple(reminder.to)),
            fallback_values=dict(self.fallback_values or {}),
            transcode=self.transcode,
        )


class AnalyzeIn(WireModel):
    """``POST /sms/analyze``."""

    body: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class SmsIn(WireModel):
    """``POST /sms``: one message."""

    body: str
    to: str
    from_: str = Field(alias="from")
    flash: bool = False
    label: str | None = Field(default=None, max_length=20)
    callback: CallbackIn | None = None
    ttl: int | None = Field(default=None, ge=1, le=4320)
    transcode: bool | None = None
