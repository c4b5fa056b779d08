"""``POST /oauth/token``: the client-credentials grant (api.md §2)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse

from smscast.api.deps import container, take_rate_limit
from smscast.api.errors import unauthorized_response
from smscast.domain.auth import PERMISSIONS, UnknownScope, format_scopes
from smscast.services.accounts import InvalidCredentials

router = APIRouter(tags=["authentication"])


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    app_id, sep, secret = decoded.partition(":")
    return (app_id, secret) if sep else None


@router.post("/oauth/token")
def token(
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Exchange ``applicationId:applicationSecret`` (HTTP Basic) for a bearer token."""
    if grant_type != "client_credentials":
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": f"Unsupported grant type: {grant_type}"},
            status_code=400,
        )
    credentials = _basic_credentials(authorization)
    if credentials is None and client_id and client_secret:
        credentials = (client_id, client_secret)
    if credentials is None or "\x00" in credentials[0] + credentials[1]:
        # No application id or secret holds a NUL, and PostgreSQL cannot even be asked about one.
        return unauthorized_response(request.url.path, "Bad credentials")
    # An attempt on an existing application costs a PBKDF2 verification (~50 ms of CPU; an unknown id costs
    # one lookup): limit attempts per application id so guessing a secret cannot spend the server's CPU.
    take_rate_limit(container(request).token_limiter, credentials[0])
    try:
        issued = container(request).accounts.issue_token(credentials[0], credentials[1], scope)
    except InvalidCredentials:
        return unauthorized_response(request.url.path, "Bad credentials")
    except UnknownScope as exc:
        return JSONResponse(
            {"error": "invalid_scope", "error_description": f"Invalid scope: {exc}"}, status_code=400
        )
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": format_scopes(issued.scopes),
            "permissions": list(PERMISSIONS),
        },
        headers={"Cache-Control": "no-store"},
    )
