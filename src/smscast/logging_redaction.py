"""Keeps secrets and phone numbers out of the logs.

``redact(text)`` masks, wherever they appear in a line or a traceback:
- bearer tokens (``Bearer abc…`` → ``Bearer [REDACTED]``) and HTTP Basic credentials;
- secrets written as ``key=value``, ``key: value`` or JSON (``applicationSecret``, ``client_secret``,
  ``access_token``, ``password``, ``token``, …);
- the password in a URL (``smpp://user:pw@host`` → ``smpp://user:[REDACTED]@host``);
- phone numbers: every ``+`` E.164 number, and bare digit strings named as addresses
  (``destination_addr='306948530920'``, ``to=…``, ``mobile=…``), keep their country calling code and last
  two digits: ``+306948530920`` → ``+30********20``.

``RedactingFilter`` applies it to every record a handler emits; ``install_log_redaction()`` puts one on
every handler configured so far (call it again after something, e.g. uvicorn, adds handlers).
"""

from __future__ import annotations

import logging
import re
from typing import Final

import phonenumbers

REDACTED: Final = "[REDACTED]"

_COUNTRY_CODES: Final = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)

_SECRET_KEYS: Final = (
    r"application_?secret|client_?secret|access_?token|refresh_?token|id_?token|api_?key|signing_?key"
    r"|secret|password|passwd|token"
)
_BEARER: Final = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_BASIC: Final = re.compile(r"\b(Basic)\s+[A-Za-z0-9+/]{6,}={0,2}", re.IGNORECASE)
# key, optional closing quote, separator, optional opening quote; the value runs to a quote, space or
# separator. A JSON string value with escaped quotes in it is cut at the first one: still redacted.
_KEYED_SECRET: Final = re.compile(
    rf"""(["']?\b(?:{_SECRET_KEYS})\b["']?\s*[:=]\s*b?["']?)[^"'\s,;&}}\])]+""", re.IGNORECASE
)
_URL_PASSWORD: Final = re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
_E164: Final = re.compile(r"(?<![\w+])\+(\d{6,15})(?!\d)")
_ADDRESS_KEYS: Final = r"destination_addr|source_addr|msisdn|mobile|recipient|phone|to"
_KEYED_NUMBER: Final = re.compile(
    rf"""(["']?\b(?:{_ADDRESS_KEYS})\b["']?\s*[:=]\s*b?["']?)(\d{{6,15}})(?!\d)""", re.IGNORECASE
)


def mask_number(digits: str) -> str:
    """``306948530920`` → ``30********20``: the country calling code and the last two digits stay."""
    code = next((digits[:n] for n in (1, 2, 3) if digits[:n] in _COUNTRY_CODES), "")
    hidden = len(digits) - len(code) - 2
    if hidden <= 0:
        return "*" * len(digits)
    return code + "*" * hidden + digits[-2:]


def redact(text: str) -> str:
    """``text`` with tokens, credentials, secrets and phone numbers masked (see the module docstring)."""
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _BASIC.sub(rf"\1 {REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    text = _KEYED_SECRET.sub(rf"\1{REDACTED}", text)
    text = _KEYED_NUMBER.sub(lambda m: m.group(1) + mask_number(m.group(2)), text)
    return _E164.sub(lambda m: "+" + mask_number(m.group(1)), text)


class RedactingFilter(logging.Filter):
    """Rewrites a record so that what any formatter makes of it is redacted; never drops a record.

    The message is formatted once and redacted as a whole (a token passed as an argument is caught too);
    only when that changes something are ``msg``/``args`` replaced, so records without secrets keep their
    arguments for formatters that read them (uvicorn's access log). The traceback is formatted here and
    stored redacted in ``exc_text``, which formatters use instead of formatting it again.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                if isinstance(record.args, tuple) and record.name == "uvicorn.access":
                    record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
                    record.msg = redact(str(record.msg))
                else:
                    record.msg, record.args = redacted, None
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(self._formatter.formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        except Exception:  # a log line is never lost to the filter itself
            record.msg, record.args = "[log record could not be redacted]", None
        return True


def install_log_redaction(root: logging.Logger | None = None) -> int:
    """Add a ``RedactingFilter`` to every handler of ``root`` (default: the root logger) and of every
    logger below it that has handlers; returns how many handlers got one. Idempotent."""
    root = root or logging.getLogger()
    loggers: list[logging.Logger] = [root]
    loggers += [
        logger
        for name, logger in root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and (root is logging.getLogger() or name.startswith(root.name))
    ]
    added = 0
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
                added += 1
    return added
