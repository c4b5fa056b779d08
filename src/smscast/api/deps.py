"""Request dependencies: the service container, the authenticated principal, paging parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from smscast.api.errors import Unauthorized
from smscast.bootstrap import Container
from smscast.domain.auth import Principal
from smscast.domain.errors import Forbidden, validation_error
from smscast.services.accounts import InvalidToken
from smscast.services.paging import MAX_PAGE_SIZE

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /oauth/token")


def container(request: Request) -> Container:
    value: Container = request.app.state.container
    return value


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the bearer token and checks it carries ``scope``."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise Unauthorized()
        try:
            principal = container(request).accounts.authenticate(credentials.credentials)
        except InvalidToken:
            raise Unauthorized("Invalid access token") from None
        if not principal.has(scope):
            raise Forbidden(f"The access token lacks the '{scope}' scope this endpoint needs")
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
        page: Annotated[int, Query(ge=0)] = 0,
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
