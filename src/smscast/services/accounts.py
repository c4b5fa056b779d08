"""Accounts, applications, access tokens and the money ledger (api.md §2, §8)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from smscast.db.accounts import AccountRepository, AccountRow, TransactionRow
from smscast.db.database import Database
from smscast.domain import auth
from smscast.domain.callbacks import signing_key
from smscast.domain.clock import Clock
from smscast.domain.errors import AccountNotFound, validation_error
from smscast.services.paging import Page

CURRENCIES: dict[str, tuple[str, str]] = {
    "EUR": ("Euro", "€"),
    "USD": ("US Dollar", "$"),
    "GBP": ("British Pound", "£"),
    "CHF": ("Swiss Franc", "CHF"),
}


class InvalidCredentials(Exception):
    """Unknown application or wrong secret (answered 401)."""


class InvalidToken(Exception):
    """Missing, unknown, expired or revoked token (answered 401)."""


@dataclass(frozen=True, slots=True)
class NewAccount:
    account_id: str
    application_id: str
    application_secret: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: frozenset[str]


def parse_amount(value: object, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise validation_error(field, f"not a number: {value!r}") from None
    if not amount.is_finite():
        raise validation_error(field, "must be a finite number")
    return amount


class AccountService:
    def __init__(self, db: Database, clock: Clock, *, default_token_ttl_s: int = 3600) -> None:
        self.db = db
        self.clock = clock
        self.default_token_ttl_s = default_token_ttl_s

    def create_account(
        self, name: str, balance: Decimal = Decimal(0), currency: str = "EUR", scopes: str | None = None
    ) -> NewAccount:
        """A new account with one application holding every scope (or ``scopes``) and an opening top-up."""
        name = name.strip()
        if not name or len(name) > 100:
            raise validation_error("name", "1 to 100 characters")
        currency = currency.upper()
        if currency not in CURRENCIES:
            raise validation_error("currency", f"one of {', '.join(CURRENCIES)}")
        if balance < 0:
            raise validation_error("balance", "must not be negative")
        try:
            app_scopes = auth.parse_scopes(scopes, frozenset(auth.SCOPES))
        except auth.UnknownScope as exc:
            raise validation_error("scopes", f"unknown scope: {exc}") from None
        account_id = str(uuid.uuid4())
        app_id = str(uuid.uuid4())
        secret = auth.new_secret()
        now = self.clock.now()
        with self.db.write() as conn:
            repo = AccountRepository(conn)
            repo.insert_account(account_id, name, currency, now)
            repo.insert_application(
                app_id,
                account_id,
                name,
                auth.hash_secret(secret),
                signing_key(secret),
                auth.format_scopes(app_scopes),
                self.default_token_ttl_s,
                now,
            )
            if balance > 0:
                repo.add_transaction(account_id, "TopUp", balance, now)
        return NewAccount(account_id, app_id, secret)

    def top_up(self, account_id: str, amount: Decimal) -> TransactionRow:
        if amount <= 0:
            raise validation_error("amount", "must be greater than 0")
        with self.db.write() as conn:
            repo = AccountRepository(conn)
            if repo.get(account_id) is None:
                raise AccountNotFound()
            return repo.add_transaction(account_id, "TopUp", amount, self.clock.now())

    def account(self, account_id: str) -> AccountRow:
        with self.db.read() as conn:
            row = AccountRepository(conn).get(account_id)
        if row is None:
            raise AccountNotFound()
        return row

    def transactions(
        self, account_id: str, start: datetime | None, end: datetime | None, page: int, size: int
    ) -> Page[TransactionRow]:
        with self.db.read() as conn:
            rows, total = AccountRepository(conn).transactions_page(account_id, start, end, page * size, size)
        return Page(rows, total, page, size)

    def issue_token(self, application_id: str, secret: str, scope: str | None) -> IssuedToken:
        """Client-credentials grant. Raises ``InvalidCredentials`` or ``auth.UnknownScope``."""
        with self.db.read() as conn:
            app = AccountRepository(conn).application(application_id)
        if app is None or not auth.verify_secret(secret, app.secret_hash):
            raise InvalidCredentials()
        scopes = auth.parse_scopes(scope, app.scopes)
        token = auth.new_token()
        now = self.clock.now()
        with self.db.write() as conn:
            AccountRepository(conn).insert_token(
                auth.hash_token(token),
                app.id,
                app.account_id,
                auth.format_scopes(scopes),
                now + timedelta(seconds=app.token_ttl_s),
            )
        return IssuedToken(token, app.token_ttl_s, scopes)

    def authenticate(self, token: str) -> auth.Principal:
        """The principal behind a bearer token; ``InvalidToken`` if it is unknown, expired or revoked."""
        with self.db.read() as conn:
            row = AccountRepository(conn).token(auth.hash_token(token))
        if row is None or row.revoked or row.expires_at <= self.clock.now():
            raise InvalidToken()
        return auth.Principal(row.account_id, row.application_id, row.application_name, row.scopes)

    def revoke(self, token: str) -> bool:
        with self.db.write() as conn:
            return AccountRepository(conn).revoke_token(auth.hash_token(token))

    def application_secret_hash(self, application_id: str) -> str | None:
        with self.db.read() as conn:
            return AccountRepository(conn).application_secret_hash(application_id)
