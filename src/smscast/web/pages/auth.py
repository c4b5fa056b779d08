"""Sign in with an application id and secret, sign out (which revokes the session's token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from smscast.domain.auth import UnknownScope
from smscast.services.accounts import InvalidCredentials, InvalidToken
from smscast.web.rendering import DashboardRoute, render
from smscast.web.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    UI_PREFIX,
    CheckedForm,
    LoginRequired,
    Session,
    WebSession,
    clear_session_cookie,
    container,
    current_session,
    new_login_nonce,
    safe_next,
    set_login_cookie,
    set_session_cookie,
)

router = APIRouter(prefix=UI_PREFIX, route_class=DashboardRoute, include_in_schema=False)


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{UI_PREFIX}/campaigns", status_code=303)


def _login_page(
    request: Request, next_url: str, *, error: str | None = None, application_id: str = "", status: int = 200
) -> Response:
    nonce = new_login_nonce()
    response = render(
        request,
        "login.html",
        {
            "nonce": nonce,
            "next": next_url,
            "error": error,
            "application_id": application_id,
            "signed_out": request.query_params.get("signed_out") == "1",
        },
        status_code=status,
    )
    set_login_cookie(response, request, nonce)
    return response


@router.get("/login")
def login_form(request: Request, next_url: Annotated[str | None, Query(alias="next")] = None) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            container(request).accounts.authenticate(token)
            return RedirectResponse(safe_next(next_url), status_code=303)
        except InvalidToken:
            pass
    return _login_page(request, safe_next(next_url))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    application_id = str(form.get("applicationId") or "").strip()
    secret = str(form.get("applicationSecret") or "")
    next_url = safe_next(str(form.get("next") or ""))
    nonce = str(form.get("nonce") or "")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not cookie or not hmac.compare_digest(nonce, cookie):
        return _login_page(
            request,
            next_url,
            error="The sign-in form expired. Please try again.",
            application_id=application_id,
            status=400,
        )
    if not application_id or not secret:
        return _login_page(
            request,
            next_url,
            error="Enter the application id and its secret.",
            application_id=application_id,
            status=400,
        )
    accounts = container(request).accounts
    try:
        issued = await run_in_threadpool(accounts.issue_token, application_id, secret, None)
    except (InvalidCredentials, UnknownScope):
        return _login_page(
            request,
            next_url,
            error="That application id and secret do not match. Check them and try again.",
            application_id=application_id,
            status=401,
        )
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, request, issued.access_token, issued.expires_in)
    response.delete_cookie(LOGIN_COOKIE, path=f"{UI_PREFIX}/login")
    return response


@router.post("/logout")
async def logout(request: Request, session: WebSession, _form: CheckedForm) -> Response:
    await run_in_threadpool(container(request).accounts.revoke, session.token)
    response = RedirectResponse(f"{UI_PREFIX}/login?signed_out=1", status_code=303)
    clear_session_cookie(response, request)
    return response


#: Included after the static files: any other address under /ui is a page that does not exist.
fallback_router = APIRouter(prefix=UI_PREFIX, route_class=DashboardRoute, include_in_schema=False)


@fallback_router.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    try:
        session: Session | None = current_session(request)
    except LoginRequired:
        session = None
    return render(
        request,
        "error.html",
        {"title": "Not found", "message": "There is no such page.", "status": 404, "session": session},
        status_code=404,
    )
