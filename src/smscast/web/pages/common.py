"""Bits every page uses: paging links and the one-line notices shown after a redirect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Query, Request

from smscast.api.deps import MAX_PAGE_NUMBER
from smscast.services.paging import Page

# A page number in a dashboard address: bounded as the API's (an unbounded one overflowed the SQL OFFSET).
PageNumber = Annotated[int, Query(ge=0, le=MAX_PAGE_NUMBER)]

#: Notices a redirect may ask for (``?done=…``): fixed texts, so nothing from the address is echoed.
NOTICES: Final = {
    "created": "The campaign was created.",
    "updated": "The campaign was updated.",
    "cancelled": "The campaign was cancelled. None of its messages will be sent.",
    "not-scheduled": "The campaign is no longer scheduled, so it cannot be changed.",
}


def done_message(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


@dataclass(frozen=True, slots=True)
class Pager:
    """Where the previous and next pages are, and the "page x of y, n items" line."""

    number: int
    pages: int
    total: int
    previous_url: str | None
    next_url: str | None

    @classmethod
    def of(cls, page: Page[Any], base: str, params: Mapping[str, str], *, anchor: str | None = None) -> Pager:
        pages = max((page.total + page.size - 1) // page.size, 1)

        def url(number: int) -> str:
            pairs = {k: v for k, v in params.items() if v}
            if number:
                pairs["page"] = str(number)
            query = urlencode(pairs)
            return base + (f"?{query}" if query else "") + (f"#{anchor}" if anchor else "")

        return cls(
            number=page.page,
            pages=pages,
            total=page.total,
            previous_url=url(page.page - 1) if page.page > 0 else None,
            next_url=url(page.page + 1) if page.page + 1 < pages else None,
        )
