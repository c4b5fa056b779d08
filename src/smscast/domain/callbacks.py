"""Webhooks (api.md §6): which status changes are reported, the payloads, the signature, the retry plan.

Pure: the caller supplies the rows and the clock; this module decides and shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from smscast.domain.campaigns import CallbackStrategy
from smscast.domain.statuses import DETAILED_DESCRIPTIONS, FINAL_VALUES

SIGNATURE_HEADER = "X-Smscast-Signature"
DELIVERY_HEADER = "X-Smscast-Delivery"
ATTEMPT_HEADER = "X-Smscast-Attempt"
PROGRESS_STEPS = 5  # every 20 %
MESSAGE_STATUS_KEYS = ("Queued", "Sent", "Delivered", "Undelivered", "Failed", "Unsent")


def signing_key(secret: str) -> str:
    """The HMAC key webhooks are signed with: the SHA-256 (hex) of the application secret. A receiver that
    knows the secret derives it the same way; the server never stores the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


def signature(key: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>`` for the ``X-Smscast-Signature`` header."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature from its secret and compare in constant time."""
    return hmac.compare_digest(signature(signing_key(secret), body), header)


def wants_message_callback(strategy: str, status: str) -> bool:
    """``OnChange``: every status change of a part; ``OnCompletion``: only its final status."""
    return strategy == CallbackStrategy.ON_CHANGE.value or status in FINAL_VALUES


def next_attempt(attempts_made: int, now: datetime, retry_s: Sequence[int]) -> datetime | None:
    """When to try again after ``attempts_made`` failed attempts; ``None`` once the schedule is used up."""
    if attempts_made > len(retry_s):
        return None
    return now + timedelta(seconds=retry_s[attempts_made - 1])


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class PartState:
    """What a message callback reports about one part."""

    sms_id: str
    message_id: str
    campaign_id: str | None
    campaign_name: str | None
    part: int
    parts: int
    label: str | None
    to: str
    sender: str
    country: str
    groups: Sequence[str]
    body: str
    application_name: str
    price: Decimal | None
    status: str
    detailed_status: str
    updated: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None


def message_payload(part: PartState) -> dict[str, Any]:
    out: dict[str, Any] = {"messageId": part.message_id, "smsId": part.sms_id}
    if part.campaign_id is not None:
        out["campaignTrackingId"] = part.campaign_id
        if part.campaign_name:
            out["campaignName"] = part.campaign_name
    out["part"] = part.part
    out["parts"] = part.parts
    if part.label is not None:
        out["label"] = part.label
    out.update(
        {
            "to": part.to,
            "from": part.sender,
            "country": part.country,
            "groups": list(part.groups),
            "message": part.body,
            "applicationName": part.application_name,
        }
    )
    if part.submitted_at is not None and part.delivered_at is not None:
        out["latency"] = round((part.delivered_at - part.submitted_at).total_seconds(), 3)
    out.update(
        {
            "price": float(part.price or 0),
            "direction": "Outbound",
            "originatingService": "Sms",
            "status": {
                "name": part.status,
                "reason": {
                    "detailedStatus": part.detailed_status,
                    "description": DETAILED_DESCRIPTIONS.get(part.detailed_status, part.detailed_status),
                },
                "updatedDate": _timestamp(part.updated),
            },
        }
    )
    return out


def campaign_payload(
    tracking_id: str,
    name: str | None,
    total_recipients: int,
    state: str,
    counts: Mapping[str, int],
    url: str,
    strategy: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {"trackingId": tracking_id}
    if name:
        out["name"] = name
    out.update(
        {
            "totalRecipients": total_recipients,
            "campaignStatus": state,
            "messageStatuses": {key: int(counts.get(key, 0)) for key in MESSAGE_STATUS_KEYS},
            "callbackInfo": {"url": url, "strategy": strategy},
        }
    )
    return out


def progress_steps(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """Per status, how many 20 % steps of ``total`` its count has reached."""
    if total <= 0:
        return {}
    return {status: count * PROGRESS_STEPS // total for status, count in counts.items() if count}


def crossed(previous: Mapping[str, int], current: Mapping[str, int]) -> bool:
    """True when some status reached a 20 % step it had not reached before."""
    return any(step > previous.get(status, 0) for status, step in current.items())


def encode(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
