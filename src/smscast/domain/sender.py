"""The sender (``from``) of a message or campaign (spec §3.4)."""

from __future__ import annotations

import re
from typing import Final

from smscast.domain.errors import InvalidSenderOrRecipients

__all__ = ["validate_sender"]

# ASCII classes spelled out: \d and str.isalpha() would let non-latin letters and digits through, which
# carriers cannot put in an alphanumeric originator (GSM 03.38 7-bit, at most 11 characters).
_NUMERIC: Final = re.compile(r"[0-9]{1,16}")
_ALPHANUMERIC_CHARS: Final = re.compile(r"[A-Za-z0-9 ]+")
_LETTER: Final = re.compile(r"[A-Za-z]")

_MAX_DIGITS: Final = 16
_MAX_ALPHANUMERIC: Final = 11


def _invalid(explanation: str) -> InvalidSenderOrRecipients:
    return InvalidSenderOrRecipients("The sender is invalid", {"from": explanation})


def validate_sender(value: object) -> str:
    """Check a sender and return it unchanged.

    Valid senders are either numeric, 1-16 ASCII digits with no ``+`` (``447123123456``), or alphanumeric,
    1-11 characters among latin letters ``A-Z a-z``, digits and spaces, at least one of them a letter
    (``Routee``, ``My Shop 24``). Spaces are kept as given (leading or trailing ones included).

    Anything else, including a non-string, an empty string or a leading ``+``, raises
    ``InvalidSenderOrRecipients`` (400005000) with message ``"The sender is invalid"`` and
    ``properties["from"]`` explaining which rule was broken.
    """
    if not isinstance(value, str):
        raise _invalid("The sender must be a string")
    if _NUMERIC.fullmatch(value) is not None:
        return value
    if not value:
        raise _invalid("The sender must not be empty")
    if value.startswith("+"):
        raise _invalid("A numeric sender is digits only, without '+' (e.g. 447123123456)")
    if value.isascii() and value.isdigit():
        raise _invalid(f"A numeric sender has at most {_MAX_DIGITS} digits")
    if _ALPHANUMERIC_CHARS.fullmatch(value) is None:
        raise _invalid("An alphanumeric sender may contain only latin letters, digits and spaces")
    if _LETTER.search(value) is None:
        raise _invalid("An alphanumeric sender must contain at least one latin letter")
    if len(value) > _MAX_ALPHANUMERIC:
        raise _invalid(f"An alphanumeric sender has at most {_MAX_ALPHANUMERIC} characters")
    return value
