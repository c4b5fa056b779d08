"""Accounts, applications, tokens and the transaction ledger."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.schema import accounts, applications, tokens, transactions
from smscast.db.types import Money


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    name: str
    currency: str
    balance: Decimal
    enforce_transcoding: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    id: str
    account_id: str
    name: str
    secret_hash: str
    scopes: frozenset[str]
    token_ttl_s: int


@dataclass(frozen=True, slots=True)
class TokenRow:
    application_id: str
    account_id: str
    application_name: str
    scopes: frozenset[str]
    expires_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class TransactionRow:
    id: str
    transaction_type: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    date: datetime
    status: str
    reference: str | None


# `AccountRepository.charge_if_covered`: the balance less ``amount`` if it covers ``amount``. Built once.
_AMOUNT = sa.bindparam("amount", type_=Money())
_DEBIT = (
    accounts.update()
    .where(accounts.c.id == sa.bindparam("account_id"), accounts.c.balance >= _AMOUNT)
    .values(balance=accounts.c.balance - _AMOUNT)
    .returning(accounts.c.balance)
)


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_account(self, account_id: str, name: str, currency: str, now: datetime) -> None:
        self.conn.execute(
            accounts.insert().values(
                id=account_id, name=name, currency=currency, balance=Decimal(0), created_at=now
            )
        )

    def insert_application(
        self,
        app_id: str,
        account_id: str,
        name: str,
        secret_hash: str,
        signing_key: str,
        scopes: str,
        ttl_s: int,
        now: datetime,
    ) -> None:
        self.conn.execute(
            applications.insert().values(
                id=app_id,
                account_id=account_id,
                name=name,
                secret_hash=secret_hash,
                signing_key=signing_key,
                scopes=scopes,
                token_ttl_s=ttl_s,
                created_at=now,
            )
        )

    def get(self, account_id: str, *, for_update: bool = False) -> AccountRow | None:
        query = sa.select(accounts).where(accounts.c.id == account_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            return None
        return AccountRow(
            row.id, row.name, row.currency, row.balance, bool(row.enforce_transcoding), row.created_at
        )

    def application(self, app_id: str) -> ApplicationRow | None:
        row = self.conn.execute(sa.select(applications).where(applications.c.id == app_id)).first()
        if row is None:
            return None
        return ApplicationRow(
            row.id, row.account_id, row.name, row.secret_hash, frozenset(row.scopes.split()), row.token_ttl_s
        )

    def application_secret_hash(self, app_id: str) -> str | None:
        value = self.conn.execute(
            sa.select(applications.c.secret_hash).where(applications.c.id == app_id)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def insert_token(
        self, token_hash: str, app_id: str, account_id: str, scopes: str, expires_at: datetime
    ) -> None:
        self.conn.execute(
            tokens.insert().values(
                token_hash=token_hash,
                application_id=app_id,
                account_id=account_id,
                scopes=scopes,
                expires_at=expires_at,
            )
        )

    def token(self, token_hash: str) -> TokenRow | None:
        row = self.conn.execute(
            sa.select(tokens, applications.c.name.label("application_name"))
            .join(applications, applications.c.id == tokens.c.application_id)
            .where(tokens.c.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        return TokenRow(
            row.application_id,
            row.account_id,
            row.application_name,
            frozenset(row.scopes.split()),
            row.expires_at,
            bool(row.revoked),
        )

    def revoke_token(self, token_hash: str) -> bool:
        result = self.conn.execute(
            tokens.update().where(tokens.c.token_hash == token_hash).values(revoked=True)
        )
        return result.rowcount > 0

    def delete_expired_tokens(self, before: datetime) -> int:
        return self.conn.execute(tokens.delete().where(tokens.c.expires_at < before)).rowcount

    def charge_if_covered(
        self, account_id: str, amount: Decimal, now: datetime, reference: str | None
    ) -> TransactionRow | None:
        """Debit ``amount`` (> 0) as one ``Charge`` ledger row if the balance covers it, in two statements (a
        conditional ``UPDATE … RETURNING`` of the balance, the ledger row); None, with nothing written, if
        it does not. The dispatcher's common case: three statements (read under lock, ledger, balance) were
        a third of a claim's CPU in smscast."""
        after = self.conn.execute(_DEBIT, {"account_id": account_id, "amount": amount}).scalar_one_or_none()
        if after is None:
            return None
        row = TransactionRow(
            str(uuid.uuid4()), "Charge", -amount, after + amount, after, now, "Completed", reference
        )
        self._insert_transaction(account_id, row)
        return row

    def add_transaction(
        self,
        account_id: str,
        transaction_type: str,
        amount: Decimal,
        now: datetime,
        reference: str | None = None,
        balance: Decimal | None = None,
    ) -> TransactionRow:
        """Append a ledger row and move the cached balance by ``amount`` (negative for charges).

        Caller holds a write transaction; the balance row is locked so concurrent charges serialise.
        ``balance``: the account's balance as the caller read it under that lock in this transaction (the
        dispatcher's charge does), else it is read here.
        """
        current = balance
        if current is None:
            current = self.conn.execute(
                sa.select(accounts.c.balance).where(accounts.c.id == account_id).with_for_update()
            ).scalar_one()
        after = current + amount
        row = TransactionRow(
            str(uuid.uuid4()), transaction_type, amount, current, after, now, "Completed", reference
        )
        self._insert_transaction(account_id, row)
        self.conn.execute(accounts.update().where(accounts.c.id == account_id).values(balance=after))
        return row

    def _insert_transaction(self, account_id: str, row: TransactionRow) -> None:
        self.conn.execute(
            transactions.insert().values(
                id=row.id,
                account_id=account_id,
                transaction_type=row.transaction_type,
                amount=row.amount,
                balance_before=row.balance_before,
                balance_after=row.balance_after,
                date=row.date,
                status=row.status,
                reference=row.reference,
            )
        )

    def transactions_page(
        self, account_id: str, start: datetime | None, end: datetime | None, offset: int, limit: int
    ) -> tuple[list[TransactionRow], int]:
        where = [transactions.c.account_id == account_id]
        if start is not None:
            where.append(transactions.c.date >= start)
        if end is not None:
            where.append(transactions.c.date <= end)
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(transactions).where(*where)
        ).scalar_one()
        rows = self.conn.execute(
            sa.select(transactions)
            .where(*where)
            .order_by(transactions.c.date.desc(), transactions.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return [
            TransactionRow(
                r.id,
                r.transaction_type,
                r.amount,
                r.balance_before,
                r.balance_after,
                r.date,
                r.status,
                r.reference,
            )
            for r in rows
        ], int(total)

    def ledger_sum(self, account_id: str) -> Decimal:
        total = sa.type_coerce(sa.func.coalesce(sa.func.sum(transactions.c.amount), 0), Money())
        value: Decimal = self.conn.execute(
            sa.select(total).where(transactions.c.account_id == account_id)
        ).scalar_one()
        return value
