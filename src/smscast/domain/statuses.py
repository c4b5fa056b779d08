"""Message statuses and detailed statuses (api.md §5), and how carrier receipts map onto them."""

from __future__ import annotations

from enum import StrEnum
from functools import cache


class MessageStatus(StrEnum):
    QUEUED = "Queued"
    SENT = "Sent"
    DELIVERED = "Delivered"
    UNDELIVERED = "Undelivered"
    FAILED = "Failed"
    UNSENT = "Unsent"


FINAL_STATUSES = frozenset(
    {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.UNSENT}
)
FINAL_VALUES = frozenset(s.value for s in FINAL_STATUSES)

DETAILED_DESCRIPTIONS: dict[str, str] = {
    "Sent": "The message has been sent to the carrier",
    "Delivered": "The message was delivered to the handset",
    "Undelivered": "The message could not be delivered",
    "Failed": "The message could not be sent",
    "Undelivered on Handset": "The handset could not store the message",
    "Unknown Number": "The number does not exist",
    "Roaming": "The recipient was roaming and could not be reached",
    "Call Barred": "The recipient does not accept messages",
    "Unknown Status": "The carrier reported an unknown status",
    "Carrier Violation": "The carrier rejected the message",
    "Expired": "The message expired before it could be delivered",
    "Insufficient Balance": "The balance ran out before the message was sent",
}

# SMPP receipt ``stat`` → (status, detailed status). ENROUTE/ACCEPTD are not final: the part stays Sent.
RECEIPT_STATES: dict[str, tuple[MessageStatus, str]] = {
    "DELIVRD": (MessageStatus.DELIVERED, "Delivered"),
    "EXPIRED": (MessageStatus.UNDELIVERED, "Expired"),
    "DELETED": (MessageStatus.UNDELIVERED, "Undelivered"),
    "UNDELIV": (MessageStatus.UNDELIVERED, "Undelivered"),
    "REJECTD": (MessageStatus.UNDELIVERED, "Carrier Violation"),
    "UNKNOWN": (MessageStatus.UNDELIVERED, "Unknown Status"),
    "ENROUTE": (MessageStatus.SENT, "Sent"),
    "ACCEPTD": (MessageStatus.SENT, "Sent"),
}


def status_from_receipt(stat: str) -> tuple[MessageStatus, str]:
    """The status a receipt's ``stat`` sets (an unrecognised ``stat`` is a final Unknown Status)."""
    return RECEIPT_STATES.get(stat.strip().upper(), (MessageStatus.UNDELIVERED, "Unknown Status"))


@cache
def receipt_change(stat: str) -> tuple[str, str]:
    """``status_from_receipt`` as stored values, ``(status, detailed status)``: looked up once per distinct
    ``stat`` (a receipt per part at thousands of parts a second)."""
    status, detailed = status_from_receipt(stat)
    return status.value, detailed
