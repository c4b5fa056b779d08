"""Settings read from the environment (api.md §10), validated once at start-up.

``Settings.from_env()`` is the only place that reads ``SMSCAST_*`` variables; everything else receives a
``Settings`` value. A bad value raises ``SettingsError`` naming the variable and what is wrong with it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from smscast.domain.quiet_hours import Window, parse_windows

N = TypeVar("N", int, float)

DEFAULT_DATABASE_URL = "sqlite:///smscast.db"
DEFAULT_CARRIER_URL = "sandbox://"
DEFAULT_QUIET_HOURS = "23:00-08:00,14:00-17:00"
DEFAULT_RATE_LIMIT_PER_S = 50.0
DEFAULT_RATE_LIMIT_BURST = 200
# A 30,000-number campaign is ~600 KB of JSON; 8 MiB leaves room without letting one request eat memory.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# CSV imports are the one legitimately large body (~60 bytes a contact: ~1 million contacts).
DEFAULT_MAX_IMPORT_BYTES = 64 * 1024 * 1024
DEFAULT_CALLBACK_RETRY_S: tuple[int, ...] = (
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    28800,
    86400,
)


class SettingsError(ValueError):
    """A setting has a value smscast cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    carrier_url: str = DEFAULT_CARRIER_URL
    quiet_hours: str = DEFAULT_QUIET_HOURS
    callback_timeout_s: float = 2.0
    callback_retry_s: tuple[int, ...] = DEFAULT_CALLBACK_RETRY_S
    token_ttl_s: int = 3600
    dispatch_lease_s: float = 120.0
    receipt_timeout_s: float = 259_200.0
    allow_private_callbacks: bool = False
    log_level: str = "INFO"
    rate_limit_per_s: float = DEFAULT_RATE_LIMIT_PER_S
    rate_limit_burst: int = DEFAULT_RATE_LIMIT_BURST
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); raise ``SettingsError`` on a bad value."""
        env = os.environ if env is None else env
        database_url = env.get("SMSCAST_DATABASE_URL", DEFAULT_DATABASE_URL).strip()
        scheme = urlsplit(database_url).scheme
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise SettingsError(
                f"SMSCAST_DATABASE_URL={database_url!r}: use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        if scheme in ("postgresql", "postgres"):
            # psycopg 3 is the driver we ship; a bare postgresql:// would ask SQLAlchemy for psycopg2.
            database_url = "postgresql+psycopg" + database_url[len(scheme) :]
        carrier_url = env.get("SMSCAST_CARRIER_URL", DEFAULT_CARRIER_URL).strip()
        carrier_scheme = urlsplit(carrier_url).scheme
        if carrier_scheme not in ("sandbox", "smpp"):
            raise SettingsError(
                f"SMSCAST_CARRIER_URL={carrier_url!r}: use sandbox:// or smpp://system_id:password@host:port"
            )
        quiet_hours = env.get("SMSCAST_QUIET_HOURS", DEFAULT_QUIET_HOURS).strip()
        try:
            parse_windows(quiet_hours)
        except ValueError as exc:
            raise SettingsError(
                f"SMSCAST_QUIET_HOURS={quiet_hours!r}: {exc} "
                "(e.g. 23:00-08:00,14:00-17:00; an empty value turns quiet hours off)"
            ) from None
        timeout = _positive_float(env, "SMSCAST_CALLBACK_TIMEOUT_S", 2.0)
        retries_text = env.get("SMSCAST_CALLBACK_RETRY_S")
        retries = DEFAULT_CALLBACK_RETRY_S
        if retries_text is not None:
            try:
                retries = tuple(int(part) for part in retries_text.split(",") if part.strip())
            except ValueError:
                raise SettingsError(
                    f"SMSCAST_CALLBACK_RETRY_S={retries_text!r}: a comma-separated list of whole seconds"
                ) from None
            if any(r <= 0 for r in retries):
                raise SettingsError(
                    "SMSCAST_CALLBACK_RETRY_S: every pause must be a positive number of seconds"
                )
        token_ttl = int(_positive_float(env, "SMSCAST_TOKEN_TTL_S", 3600))
        # How long a claimed part may stay unconfirmed before another dispatcher may send it again.
        dispatch_lease = _positive_float(env, "SMSCAST_DISPATCH_LEASE_S", 120.0)
        # A part without a receipt this long after hand-over ends Undelivered / Unknown Status.
        receipt_timeout = _positive_float(env, "SMSCAST_RECEIPT_TIMEOUT_S", 259_200.0)
        allow_private = env.get("SMSCAST_ALLOW_PRIVATE_CALLBACKS", "false").strip().lower() in (
            "1",
            "true",
            "yes",
        )
        log_level = env.get("SMSCAST_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"SMSCAST_LOG_LEVEL={log_level!r}: one of DEBUG, INFO, WARNING, ERROR")
        # Requests a second per application (per API process); 0 turns the limit off.
        rate_limit = _non_negative_float(env, "SMSCAST_RATE_LIMIT_PER_S", DEFAULT_RATE_LIMIT_PER_S)
        rate_burst = _positive_int(env, "SMSCAST_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT_BURST)
        max_body = _positive_int(env, "SMSCAST_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
        max_import = _positive_int(env, "SMSCAST_MAX_IMPORT_BYTES", DEFAULT_MAX_IMPORT_BYTES)
        return cls(
            database_url=database_url,
            carrier_url=carrier_url,
            quiet_hours=quiet_hours,
            callback_timeout_s=timeout,
            callback_retry_s=retries,
            token_ttl_s=token_ttl,
            dispatch_lease_s=dispatch_lease,
            receipt_timeout_s=receipt_timeout,
            allow_private_callbacks=allow_private,
            log_level=log_level,
            rate_limit_per_s=rate_limit,
            rate_limit_burst=rate_burst,
            max_body_bytes=max_body,
            max_import_bytes=max_import,
        )

    @property
    def quiet_windows(self) -> tuple[Window, ...]:
        return parse_windows(self.quiet_hours)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_POSITIVE = "must be greater than 0"


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number of seconds", lambda v: v > 0, _POSITIVE)


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(
        env,
        name,
        default,
        float,
        "a number (0 turns it off)",
        lambda v: v >= 0 and math.isfinite(v),
        "must be a finite number ≥ 0 (0 turns it off)",
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, lambda t: int(t.strip()), "a whole number", lambda v: v > 0, _POSITIVE)


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    parse: Callable[[str], N],
    expected: str,
    valid: Callable[[N], bool],
    requirement: str,
) -> N:
    """``name`` from ``env`` read by ``parse`` (``default`` when unset); SettingsError naming the variable
    and what it should hold (``expected``) when unreadable, and ``requirement`` when ``valid`` refuses it."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = parse(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: {expected}") from None
    if not valid(value):
        raise SettingsError(f"{name}={text!r}: {requirement}")
    return value
