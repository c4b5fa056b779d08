"""Templates, their filters, and the route class that gives every dashboard response its headers and turns
errors into pages (a redirect to sign in, a 403, a 404 page) instead of the API's JSON bodies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from smscast.api.deps import NUL_MESSAGE, reject_nul_characters
from smscast.domain.errors import DomainError, validation_error
from smscast.web.session import SECURITY_HEADERS, CsrfRejected, LoginRequired, ScopeMissing, login_url

log = logging.getLogger("smscast.web")

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html", "svg")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=format_when, money=format_money, plural=plural)
    return env


def format_when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_money(value: Decimal | float | int | None, currency: str = "") -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.0001"))
    text = f"{amount:,.4f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}" + (f" {currency}" if currency else "")


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    env: Environment = request.app.state.dashboard_templates
    html = env.get_template(template).render({"request": request, **(context or {})})
    return HTMLResponse(html, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class DashboardRoute(APIRoute):
    """A route whose errors are pages and whose responses carry the dashboard's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                await _reject_nul_characters(request)
                response = await handler(request)
            except LoginRequired:
                if is_htmx(request):
                    # A fragment request cannot follow a redirect into a whole page: ask htmx to navigate.
                    response = Response(status_code=401, headers={"HX-Redirect": login_url(request)})
                else:
                    response = RedirectResponse(login_url(request), status_code=303)
            except CsrfRejected:
                response = _error_page(
                    request, 403, "Form expired", "The form was not sent from this session. Reload and retry."
                )
            except ScopeMissing as exc:
                response = _error_page(
                    request,
                    403,
                    "Not allowed",
                    f"The application you signed in with lacks the '{exc.scope}' scope this page needs.",
                )
            except DomainError as exc:
                response = _error_page(request, exc.status, _title(exc.status), exc.message)
            except RequestValidationError as exc:
                fields = "; ".join(
                    ".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors()
                )
                response = _error_page(request, 400, "Bad request", f"Check the address: {fields}.")
            return secure(response)

        return route


async def _reject_nul_characters(request: Request) -> None:
    """The API's rule for the dashboard too: a U+0000 in the address or in a form field is a 400 page,
    on both databases (PostgreSQL text cannot hold it: searching for one was a 500 there)."""
    reject_nul_characters(request, b"")
    if request.method == "POST" and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        form = await request.form()  # kept by Starlette for the handler
        for name, value in form.multi_items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise validation_error(name.replace("\x00", "") or "form", NUL_MESSAGE)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _title(status: int) -> str:
    return {404: "Not found", 403: "Not allowed", 409: "Conflict"}.get(status, "Something went wrong")


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    session = getattr(request.state, "web_session", None)
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status, "session": session},
        status_code=status,
    )
