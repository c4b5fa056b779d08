"""Request dependencies: the service container, the authenticated principal, paging parameters."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic.alias_generators import to_camel

from smscast.api.errors import Unauthorized
from smscast.bootstrap import Container
from smscast.domain.auth import Principal
from smscast.domain.errors import Forbidden, RateLimited, validation_error
from smscast.domain.rate_limit import RateLimiter, retry_after_header
from smscast.services.accounts import InvalidToken
from smscast.services.paging import MAX_PAGE_SIZE

# Spring's page number is a Java int; bounding it keeps page * size inside a 64-bit SQL OFFSET.
MAX_PAGE_NUMBER = 2**31 - 1

NUL_MESSAGE = "must not contain NUL (U+0000) characters"
# A JSON \u0000 escape: a backslash that is not itself escaped, then u0000.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /oauth/token")


def container(request: Request) -> Container:
    value: Container = request.app.state.container
    return value


async def _raw_body(request: Request) -> bytes:
    """The request body; Starlette caches it, so the handler's own read costs nothing more."""
    return await request.body()


def reject_nul_characters(request: Request, body: bytes) -> None:
    """400000000 naming the path parameter, query parameter or ``body`` that holds a U+0000.

    PostgreSQL text cannot store it (SQLite can), and no SMS, name or id needs it; rejecting it here
    answers the same on both databases instead of a 500 from the first query that meets it. A body that is
    not UTF-8 is left to its handler, which says what encoding it wants.
    """
    for name, value in request.path_params.items():
        if "\x00" in str(value):
            raise validation_error(to_camel(name), NUL_MESSAGE)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise validation_error(name.replace("\x00", "") or "query", NUL_MESSAGE)
    if (b"\\u0000" in body and _JSON_NUL.search(body)) or (b"\x00" in body and _is_utf8(body)):
        raise validation_error("body", NUL_MESSAGE)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def take_rate_limit(limiter: RateLimiter, key: str) -> None:
    """Take one request from ``key``'s bucket; 429000000 with ``Retry-After`` when it is used up."""
    wait_s = limiter.acquire(key)
    if wait_s > 0:
        retry_after = retry_after_header(wait_s)
        raise RateLimited(
            retry_after,
            f"Too many requests: limited to {limiter.policy.rate_per_s:g} requests/s with bursts of "
            f"{limiter.policy.burst}; retry in {retry_after} s",
        )


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the bearer token, takes one request from the application's rate
    limit (429000000 with ``Retry-After`` when it is used up), checks the token carries ``scope`` and that
    the request holds no NUL character (``reject_nul_characters``), in that order."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        body: Annotated[bytes, Depends(_raw_body)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise Unauthorized()
        try:
            principal = container(request).accounts.authenticate(credentials.credentials)
        except InvalidToken:
            raise Unauthorized("Invalid access token") from None
        take_rate_limit(container(request).rate_limiter, principal.application_id)
        if not principal.has(scope):
            raise Forbidden(f"The access token lacks the '{scope}' scope this endpoint needs")
        reject_nul_characters(request, body)
        request.state.principal = principal
        return principal

    return dependency


SmsPrincipal = Annotated[Principal, Depends(require("sms"))]
ContactPrincipal = Annotated[Principal, Depends(require("contact"))]
AccountPrincipal = Annotated[Principal, Depends(require("account"))]
ReportPrincipal = Annotated[Principal, Depends(require("report"))]
Services = Annotated[Container, Depends(container)]


class Paging:
    """``page`` (0-based), ``size`` (1–1000, default 10) and ``sort`` (``field`` or ``field,desc``)."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=0, le=MAX_PAGE_NUMBER)] = 0,
        size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
        sort: str | None = None,
    ) -> None:
        self.page = page
        self.size = size
        self.sort_field: str | None = None
        self.sort_desc = False
        if sort:
            field, _, direction = sort.partition(",")
            if direction.strip().lower() not in ("", "asc", "desc"):
                raise validation_error("sort", "use field or field,asc or field,desc")
            self.sort_field = field.strip()
            self.sort_desc = direction.strip().lower() == "desc"


PagingParams = Annotated[Paging, Depends()]


def page_body(content: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    """Spring's ``Page`` JSON."""
    total_pages = (total + size - 1) // size if size else 0
    return {
        "content": content,
        "totalPages": total_pages,
        "totalElements": total,
        "last": page >= total_pages - 1,
        "first": page == 0,
        "numberOfElements": len(content),
        "size": size,
        "number": page,
    }
