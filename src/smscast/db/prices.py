"""The price table (api.md §8): one row per (mcc, mnc); iso ``ZZ`` prices every other country."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.schema import prices

FALLBACK_ISO = "ZZ"


@dataclass(frozen=True, slots=True)
class PriceRow:
    mcc: str
    mnc: str
    iso: str
    country: str
    network: str
    price: Decimal
    currency: str


class PriceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replace_all(self, rows: Iterable[PriceRow]) -> int:
        """Swap the whole table for ``rows`` (in the caller's transaction)."""
        self.conn.execute(prices.delete())
        values = [
            {
                "mcc": r.mcc,
                "mnc": r.mnc,
                "iso": r.iso,
                "country": r.country,
                "network": r.network,
                "price": r.price,
                "currency": r.currency,
            }
            for r in rows
        ]
        if values:
            self.conn.execute(prices.insert(), values)
        return len(values)

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(prices)).scalar_one())

    def list(self, mcc: str | None = None, mnc: str | None = None) -> list[PriceRow]:
        query = sa.select(prices).order_by(prices.c.mcc, prices.c.mnc)
        if mcc is not None:
            query = query.where(prices.c.mcc == mcc)
        if mnc is not None:
            query = query.where(prices.c.mnc == mnc)
        return [
            PriceRow(r.mcc, r.mnc, r.iso, r.country, r.network, r.price, r.currency)
            for r in self.conn.execute(query)
        ]

    def per_country(self) -> dict[str, Decimal]:
        """ISO country → price of one part: the dearest network, so a quote never undercharges."""
        rows = self.conn.execute(sa.select(prices.c.iso, prices.c.price)).all()
        table: dict[str, Decimal] = {}
        for iso, price in rows:
            if iso not in table or price > table[iso]:
                table[iso] = price
        return table
