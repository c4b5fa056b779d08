"""``SMSCAST_CARRIER_URL`` → a carrier."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from smscast.carriers.base import Carrier
from smscast.carriers.sandbox import SandboxCarrier


def carrier_from_url(url: str) -> Carrier:
    scheme = urlsplit(url).scheme
    if scheme == "sandbox":
        return SandboxCarrier.from_url(url)
    if scheme == "smpp":
        from smscast.carriers.smpp import SmppCarrier

        carrier = SmppCarrier.from_url(url)  # checks the URL here, in the engine's process
        process = parse_qs(urlsplit(url).query).get("process", ["on"])[0]
        if process not in ("on", "off"):
            raise ValueError("process is on or off")
        if process == "off":
            return carrier
        from smscast.carriers.process import ProcessCarrier

        return ProcessCarrier(url)
    raise ValueError(f"unknown carrier URL scheme: {scheme!r}")


def carrier_rate(url: str) -> float | None:
    """The most messages per second the carrier of ``url`` takes (an SMPP ``tps``), or None: no limit."""
    parts = urlsplit(url)
    if parts.scheme != "smpp":
        return None
    tps = float(parse_qs(parts.query).get("tps", ["0"])[0])
    return tps if tps > 0 else None
