"""Balance, transactions and prices (api.md §8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from smscast.api.deps import AccountPrincipal, PagingParams, Services, page_body
from smscast.api.wire import format_timestamp, parse_timestamp
from smscast.domain.errors import validation_error
from smscast.services.accounts import CURRENCIES

router = APIRouter(tags=["account"])


def currency_body(code: str) -> dict[str, str]:
    name, sign = CURRENCIES.get(code, (code, code))
    return {"code": code, "name": name, "sign": sign}


@router.get("/accounts/me/balance")
def balance(principal: AccountPrincipal, services: Services) -> dict[str, Any]:
    account = services.accounts.account(principal.account_id)
    return {"balance": float(account.balance), "currency": currency_body(account.currency)}


@router.get("/accounts/me/transactions")
def transactions(
    principal: AccountPrincipal,
    services: Services,
    paging: PagingParams,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> dict[str, Any]:
    try:
        start = parse_timestamp(from_) if from_ else None
    except ValueError as exc:
        raise validation_error("from", str(exc)) from None
    try:
        end = parse_timestamp(to) if to else None
    except ValueError as exc:
        raise validation_error("to", str(exc)) from None
    page = services.accounts.transactions(principal.account_id, start, end, paging.page, paging.size)
    content = [
        {
            "id": t.id,
            "transactionType": t.transaction_type,
            "amount": float(t.amount),
            "balanceBefore": float(t.balance_before),
            "balanceAfter": float(t.balance_after),
            "date": format_timestamp(t.date),
            "status": t.status,
        }
        for t in page.items
    ]
    return page_body(content, page.total, page.page, page.size)


@router.get("/system/prices")
def prices(
    principal: AccountPrincipal,
    services: Services,
    mcc: str | None = None,
    mnc: str | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    account = services.accounts.account(principal.account_id)
    if currency and currency.upper() != account.currency:
        raise validation_error("currency", f"prices are kept in {account.currency}")
    by_mcc: dict[str, dict[str, Any]] = {}
    for row in services.prices.rows(mcc, mnc):
        entry = by_mcc.setdefault(
            row.mcc, {"mcc": row.mcc, "country": row.country, "iso": row.iso, "networks": []}
        )
        entry["networks"].append({"network": row.network, "mnc": row.mnc, "price": float(row.price)})
    return {"sms": list(by_mcc.values()), "currency": currency_body(account.currency)}
