"""Dashboard sign-in: the access token in a cookie, a CSRF token derived from it, and the security headers.

The cookie holds an ordinary access token (``AccountService.issue_token``), so signing out revokes it like
any other token and it expires with the application's token lifetime. It is ``HttpOnly``,
``SameSite=Lax``, limited to ``/ui`` and ``Secure`` when the page was served over https.

Every form that changes something carries ``csrf``: an HMAC of the session token, so it needs no storage,
differs per session and reveals nothing about the token. The sign-in form, which has no session yet, uses a
random double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from smscast.bootstrap import Container
from smscast.domain.auth import Principal
from smscast.services.accounts import InvalidToken

SESSION_COOKIE: Final = "smscast_ui"
LOGIN_COOKIE: Final = "smscast_ui_login"
COOKIE_PATH: Final = "/ui"
UI_PREFIX: Final = "/ui"

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class CsrfRejected(Exception):
    """A form arrived without the session's CSRF token."""


class ScopeMissing(Exception):
    """The application signed in with lacks the scope this page needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    def require(self, scope: str) -> Principal:
        if not self.principal.has(scope):
            raise ScopeMissing(scope)
        return self.principal


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"smscast-ui-csrf", hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def container(request: Request) -> Container:
    value: Container = request.app.state.container
    return value


def current_session(request: Request) -> Session:
    """The signed-in session, or ``LoginRequired``."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    try:
        principal = container(request).accounts.authenticate(token)
    except InvalidToken:
        raise LoginRequired() from None
    session = Session(principal, token)
    request.state.web_session = session
    return session


WebSession = Annotated[Session, Depends(current_session)]


async def checked_form(request: Request, session: WebSession) -> FormData:
    """The submitted form, after checking its CSRF token against the session."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=is_https(request)
    )


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path=f"{UI_PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path only, never another site."""
    if (
        value
        and value.startswith(f"{UI_PREFIX}/")
        and "\\" not in value
        and not value.startswith((f"{UI_PREFIX}/login", f"{UI_PREFIX}/logout", f"{UI_PREFIX}/static"))
    ):
        return value
    return f"{UI_PREFIX}/campaigns"


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{UI_PREFIX}/login?next={quote(target, safe='')}"
