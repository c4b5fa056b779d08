"""Pure ASGI middleware of the HTTP API: a request body size limit and security headers.

Both work on raw ASGI messages, so they cost one function call per message, never buffer a body and keep
streaming responses streaming.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smscast.api.errors import error_body

# The bodies that are legitimately large: CSV contact imports (the API's and the dashboard's upload form).
IMPORT_PATHS: Final = frozenset({"/contacts/my/import", "/ui/contacts/import"})


class BodyTooLarge(HTTPException):
    """The request body passed its limit while the application was reading it.

    An ``HTTPException`` so that FastAPI's body parsing lets it through unchanged (it turns any other
    exception into a 400) and the error handlers answer it as ``413000000``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


def too_large_message(limit: int) -> str:
    return f"The request body is larger than this endpoint accepts ({limit} bytes)"


class BodyLimitMiddleware:
    """Answers 413 ``{"code": "413000000", …}`` to a request body over its path's limit.

    A declared ``Content-Length`` over the limit is refused before the application runs. A body without
    one (chunked) is counted as it is read: the read that crosses the limit raises ``BodyTooLarge``, so the
    application never holds more than the limit plus one chunk.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, path_limits: Mapping[str, int]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits)

    def limit_for(self, path: str) -> int:
        return self.path_limits.get(path.rstrip("/") or "/", self.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            # Normally the app's error handlers answer it; this is for code paths outside them.
            if started:
                raise
            await _send_too_large(send, limit)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def _send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("413000000", too_large_message(limit)), separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body would otherwise be parsed as the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Every response: no MIME sniffing, no framing, no referrer leaking ids in URLs.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# JSON is data, never a document: nothing in it may load or run, and nobody may frame it.
JSON_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
# Other responses (the /docs page, the dashboard) bring their own policy; without one, forbid framing only.
DEFAULT_CSP: Final = "frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, leaving any header a route already set.

    JSON responses also get ``Cache-Control: no-store`` (they hold account data and tokens) and a CSP that
    allows nothing; other responses get ``frame-ancestors 'none'`` unless they set a CSP of their own (the
    dashboard does), so a page's policy is never overridden or weakened.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(headers: MutableHeaders) -> None:
    """Set each security header ``headers`` lacks (see ``SecurityHeadersMiddleware``)."""
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    headers.setdefault("Content-Security-Policy", JSON_CSP if is_json else DEFAULT_CSP)
    if is_json:
        headers.setdefault("Cache-Control", "no-store")
