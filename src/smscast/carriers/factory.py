"""``SMSCAST_CARRIER_URL`` → a carrier."""

from __future__ import annotations

from urllib.parse import urlsplit

from smscast.carriers.base import Carrier
from smscast.carriers.sandbox import SandboxCarrier


def carrier_from_url(url: str) -> Carrier:
    scheme = urlsplit(url).scheme
    if scheme == "sandbox":
        return SandboxCarrier.from_url(url)
    if scheme == "smpp":
        from smscast.carriers.smpp import SmppCarrier

        return SmppCarrier.from_url(url)
    raise ValueError(f"unknown carrier URL scheme: {scheme!r}")
