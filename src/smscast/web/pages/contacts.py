"""Contacts and groups: browse, search, a group's members, CSV import with a result summary."""

from __future__ import annotations

from functools import partial
from typing import Final

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from smscast.domain.errors import DomainError
from smscast.web.pages.common import PageNumber, Pager
from smscast.web.rendering import DashboardRoute, render
from smscast.web.session import UI_PREFIX, CheckedForm, WebSession, container

router = APIRouter(prefix=UI_PREFIX, route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE: Final = 25
#: The largest CSV the dashboard accepts in one upload; bigger files go through the API.
MAX_IMPORT_BYTES: Final = 10 * 1024 * 1024


@router.get("/contacts")
def contact_list(
    request: Request,
    session: WebSession,
    q: str | None = None,
    page: PageNumber = 0,
) -> Response:
    principal = session.require("contact")
    text = (q or "").strip()
    result = container(request).contacts.page(principal.account_id, page, PAGE_SIZE, text=text or None)
    return render(
        request,
        "contacts/list.html",
        {
            "session": session,
            "nav": "contacts",
            "contacts": result.items,
            "q": text,
            "pager": Pager.of(result, f"{UI_PREFIX}/contacts", {"q": text}),
        },
    )


def _import_page(
    request: Request,
    session: WebSession,
    *,
    result: object = None,
    error: str | None = None,
    group: str = "",
    status_code: int = 200,
) -> Response:
    groups = container(request).groups.list_all(session.principal.account_id)
    return render(
        request,
        "contacts/import.html",
        {
            "session": session,
            "nav": "contacts",
            "result": result,
            "error": error,
            "group": group,
            "groups": [g for g in groups if g.name != "NotListed"],
        },
        status_code=status_code,
    )


@router.get("/contacts/import")
def import_form(request: Request, session: WebSession) -> Response:
    session.require("contact")
    return _import_page(request, session)


@router.post("/contacts/import")
async def import_contacts(request: Request, session: WebSession, form: CheckedForm) -> Response:
    principal = session.require("contact")
    upload = form.get("file")
    group = str(form.get("group") or "").strip()
    error: str | None = None
    data = b""
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = "Choose a CSV file to import."
    else:
        data = await upload.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            error = f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB: import it in parts."
    if error is not None:
        return await run_in_threadpool(
            partial(_import_page, request, session, error=error, group=group, status_code=400)
        )
    contacts = container(request).contacts
    try:
        result = await run_in_threadpool(contacts.import_csv, principal.account_id, data, group or None)
    except DomainError as exc:
        page = partial(_import_page, request, session, error=exc.message, group=group, status_code=exc.status)
        return await run_in_threadpool(page)
    return await run_in_threadpool(partial(_import_page, request, session, result=result, group=group))


@router.get("/groups")
def group_list(request: Request, session: WebSession) -> Response:
    principal = session.require("contact")
    groups = container(request).groups.list_all(principal.account_id)
    return render(request, "groups/list.html", {"session": session, "nav": "groups", "groups": groups})


@router.get("/groups/{name:path}")
def group_page(
    request: Request,
    session: WebSession,
    name: str,
    page: PageNumber = 0,
) -> Response:
    principal = session.require("contact")
    services = container(request)
    group = services.groups.get(principal.account_id, name)
    result = services.groups.contacts(principal.account_id, name, page, PAGE_SIZE, None, False)
    return render(
        request,
        "groups/detail.html",
        {
            "session": session,
            "nav": "groups",
            "group": group,
            "contacts": result.items,
            "pager": Pager.of(result, f"{UI_PREFIX}/groups/{name}", {}),
        },
    )


@router.get("/account")
def account_page(request: Request, session: WebSession, page: PageNumber = 0) -> Response:
    principal = session.require("account")
    accounts = container(request).accounts
    account = accounts.account(principal.account_id)
    result = accounts.transactions(principal.account_id, None, None, page, PAGE_SIZE)
    return render(
        request,
        "account.html",
        {
            "session": session,
            "nav": "account",
            "account": account,
            "transactions": result.items,
            "pager": Pager.of(result, f"{UI_PREFIX}/account", {}),
        },
    )
