"""The operator's price table: load from CSV, list, and quote (api.md §8, §10)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from importlib import resources

from sqlalchemy.engine import Connection

from smscast.db.database import Database
from smscast.db.prices import PriceRepository, PriceRow
from smscast.domain.errors import ValidationFailed
from smscast.domain.pricing import PriceList

COLUMNS = ("mcc", "mnc", "iso", "country", "network", "price")


def parse_price_csv(text: str, currency: str = "EUR") -> list[PriceRow]:
    """Rows of ``mcc,mnc,iso,country,network,price``; raises ``ValidationFailed`` naming the bad line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(
            f"price table is missing columns: {', '.join(missing)}", {"file": "bad header"}
        )
    rows: list[PriceRow] = []
    seen: set[tuple[str, str]] = set()
    for line_no, record in enumerate(reader, start=2):
        mcc, mnc, iso = record["mcc"].strip(), record["mnc"].strip(), record["iso"].strip().upper()
        try:
            price = Decimal(record["price"].strip())
        except InvalidOperation:
            raise ValidationFailed(f"line {line_no}: price is not a number", {"line": str(line_no)}) from None
        if not (mcc.isdigit() and len(mcc) == 3 and mnc.isdigit() and 2 <= len(mnc) <= 3):
            raise ValidationFailed(f"line {line_no}: mcc is 3 digits, mnc 2-3 digits", {"line": str(line_no)})
        if len(iso) != 2 or not iso.isalpha() or price < 0:
            raise ValidationFailed(f"line {line_no}: bad iso or negative price", {"line": str(line_no)})
        if (mcc, mnc) in seen:
            raise ValidationFailed(f"line {line_no}: mcc/mnc {mcc}/{mnc} repeated", {"line": str(line_no)})
        seen.add((mcc, mnc))
        rows.append(
            PriceRow(mcc, mnc, iso, record["country"].strip(), record["network"].strip(), price, currency)
        )
    return rows


def default_price_csv() -> str:
    return resources.files("smscast").joinpath("data/prices.csv").read_text(encoding="utf-8")


class PriceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, text: str, currency: str = "EUR") -> int:
        rows = parse_price_csv(text, currency)
        with self.db.write() as conn:
            return PriceRepository(conn).replace_all(rows)

    def ensure_default(self) -> None:
        """Load the shipped table if no price table was ever loaded."""
        with self.db.read() as conn:
            empty = PriceRepository(conn).count() == 0
        if empty:
            self.load(default_price_csv())

    def rows(self, mcc: str | None = None, mnc: str | None = None) -> list[PriceRow]:
        with self.db.read() as conn:
            return PriceRepository(conn).list(mcc, mnc)

    def price_list(self, conn: Connection | None = None) -> PriceList:
        """The per-country prices; read in the caller's transaction ``conn`` when it has one (a second
        connection per request can exhaust the pool under concurrency: with 32 concurrent ``PUT /sms/{id}``
        every pooled connection was held by a request waiting for a second one, for the pool's 30 s)."""
        if conn is not None:
            return PriceList(PriceRepository(conn).per_country())
        with self.db.read() as own:
            return PriceList(PriceRepository(own).per_country())
