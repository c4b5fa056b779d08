"""Pricing arithmetic: a message costs its number of parts times its destination country's part price."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

FALLBACK_ISO = "ZZ"


class NoPrice(LookupError):
    """The price table has no row for the country and no ``ZZ`` fallback."""


@dataclass(frozen=True)
class PriceList:
    """ISO country → price of one part, plus the ``ZZ`` fallback for every other country."""

    per_part: Mapping[str, Decimal]

    def part_price(self, iso: str) -> Decimal:
        price = self.per_part.get(iso)
        if price is None:
            price = self.per_part.get(FALLBACK_ISO)
        if price is None:
            raise NoPrice(iso)
        return price

    def cost(self, iso: str, parts: int) -> Decimal:
        return self.part_price(iso) * parts


def round_money(amount: Decimal) -> Decimal:
    """Amounts are kept to micro-units, as the ledger stores them."""
    return amount.quantize(Decimal("0.000001"))
