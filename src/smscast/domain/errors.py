"""The error hierarchy of the domain, each carrying its Routee error code.

A Routee code is nine digits: HTTP status (3) + module (3) + error (3). The HTTP layer turns any
``DomainError`` into ``{"code", "developerMessage", "properties"?}`` with the status taken from the code.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base of every error a use case reports to its caller.

    ``properties`` maps a field name to a message; it is set on validation errors.
    """

    code: str = "500000000"
    default_message: str = "Internal error"

    def __init__(self, message: str | None = None, properties: Mapping[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.properties: dict[str, str] = dict(properties or {})
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return int(self.code[:3])


class ValidationFailed(DomainError):
    code = "400000000"
    default_message = "Validation failed"


class Forbidden(DomainError):
    code = "403000000"
    default_message = "The access token does not grant the scope this endpoint needs"


class InsufficientBalance(DomainError):
    code = "400001009"
    default_message = "You don't have enough balance to send the campaign"


class AccountNotFound(DomainError):
    code = "404001001"
    default_message = "Account not found"


class InvalidSenderOrRecipients(DomainError):
    code = "400005000"
    default_message = "No recipients were specified or the sender is invalid"


class TrackingNotFound(DomainError):
    code = "404005000"
    default_message = "No message with the given id exists"


class CampaignNotFound(DomainError):
    code = "404009001"
    default_message = "The campaign with the given tracking id doesn't exist"


class CampaignNotScheduled(DomainError):
    code = "400009002"
    default_message = "The campaign status is not Scheduled"


class CampaignNameExists(DomainError):
    code = "409009003"
    default_message = "Your account already has a campaign with the given name"


class NoRecipientsLeft(DomainError):
    code = "400009004"
    default_message = (
        "Your campaign has no recipients. Your groups might be empty or all contacts might be blacklisted"
    )


class ContactNotFound(DomainError):
    code = "404002001"
    default_message = "A contact id does not exist"


class GroupNotFound(DomainError):
    code = "404002003"
    default_message = "The group does not exist"


class AlreadyExists(DomainError):
    code = "409002005"
    default_message = "A contact with that mobile, or a group with that name, already exists"


class InvalidFilters(DomainError):
    """Routee's "Search filters are invalid" (a group created with the ``Filtered`` strategy)."""

    code = "400002007"
    default_message = "Search filters are invalid"


class InvalidLabels(DomainError):
    code = "400002006"
    default_message = "The contact's labels are invalid"


class LabelExists(DomainError):
    code = "409002011"
    default_message = "A label with that name already exists"


class DuplicateLabelInRequest(DomainError):
    code = "400002014"
    default_message = "A label is named more than once in the request"


class RateLimited(DomainError):
    code = "429000000"
    default_message = "Too many requests"

    def __init__(self, retry_after_s: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def validation_error(field: str, message: str) -> ValidationFailed:
    """A 400000000 naming one bad field."""
    return ValidationFailed(f"{field}: {message}", {field: message})
