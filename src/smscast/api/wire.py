"""Wire conventions shared by every schema: timestamps, loose scalars, id lists (api.md §1, §1.0)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_timestamp(value: datetime) -> str:
    """``2026-11-27T09:00:00.000Z``: UTC with milliseconds, as Routee prints dates."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_timestamp(value: Any) -> datetime:
    """An ISO-8601 instant with ``Z`` or an offset, or an integer of seconds since the epoch (UTC).

    A date without an offset is rejected: it would be ambiguous. Every failure, an instant outside what
    ``datetime`` can hold included, is a ``ValueError``.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool):
        raise ValueError("expected a date-time")
    elif isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):  # out of range for the platform, or NaN
            raise ValueError("the epoch seconds are out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("expected an ISO-8601 date-time such as 2026-11-27T09:00:00Z") from None
    else:
        raise ValueError("expected a date-time")
    if parsed.tzinfo is None:
        raise ValueError("the date-time needs a time zone designator (Z or ±hh:mm)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("the date-time is out of range") from None


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]
InstantIn = Annotated[datetime, BeforeValidator(parse_timestamp)]


def _id_list(value: Any) -> Any:
    """Accept ``["id", …]`` and ``[{"id": …}, …]`` alike (Routee clients send both)."""
    if isinstance(value, list):
        return [item.get("id") if isinstance(item, dict) else item for item in value]
    return value


IdList = Annotated[list[str], BeforeValidator(_id_list)]


class WireModel(BaseModel):
    """Base of request schemas: camelCase names, unknown keys ignored, loosely typed scalars accepted."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        coerce_numbers_to_str=True,
        str_strip_whitespace=False,
    )


class OutModel(BaseModel):
    """Base of response schemas: camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
