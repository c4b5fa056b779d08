"""The error answers in ``/openapi.json`` as the server really gives them (api.md §1.1).

FastAPI documents a 422 ``HTTPValidationError`` on every operation; smscast answers validation errors with
400 and Routee's error body instead, and also answers 401 (Spring's body), 403, 404, 413, 429, 500 and 503
(the database is down, full or read-only). This rewrites each operation's responses to say so, so that
generated clients and schema-driven tests (the schemathesis fuzz test) see the real contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI

ROUTEE_ERROR: Final[dict[str, Any]] = {
    "type": "object",
    "description": "Routee's error body; code = HTTP status (3 digits) + module (3) + error (3)",
    "required": ["code", "developerMessage"],
    "properties": {
        "code": {"type": "string", "pattern": "^[1-5][0-9]{8}$", "example": "400000000"},
        "developerMessage": {"type": "string"},
        "properties": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "field → what is wrong with it (validation errors)",
        },
    },
}
UNAUTHORIZED: Final[dict[str, Any]] = {
    "type": "object",
    "description": "Spring Security's 401 body, as Routee answers it",
    "required": ["timestamp", "status", "error", "message", "path"],
    "properties": {
        "timestamp": {"type": "string"},
        "status": {"type": "integer", "enum": [401]},
        "error": {"type": "string"},
        "message": {"type": "string"},
        "path": {"type": "string"},
    },
}
OAUTH_ERROR: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json("RouteeError", description)


# Operations that never touch the database, so never answer 503.
NO_DATABASE: Final = frozenset({"/health", "/metrics"})
RETRY_AFTER: Final[dict[str, Any]] = {
    "schema": {"type": "integer", "minimum": 1},
    "description": "seconds to wait",
}
DATABASE_FAULT: Final[dict[str, Any]] = {
    "description": "The database cannot serve the request now (503000000): it is down or restarting "
    "(properties.database = unavailable), out of disk space (diskFull) or read-only (readOnly); retry after "
    "Retry-After seconds",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RouteeError"}}},
    "headers": {"Retry-After": RETRY_AFTER},
}


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    if path not in NO_DATABASE:
        responses.setdefault(
            "503",
            DATABASE_FAULT
            if method != "head"
            else {"description": "The database is down, full or read-only; see Retry-After"},
        )
    if method == "head":
        # HEAD answers have no body whatever the status.
        responses.setdefault("400", {"description": "Missing or empty query value"})
        responses.setdefault("404", {"description": "Not found"})
        responses.setdefault("401", {"description": "Missing, unknown, expired or revoked token"})
        responses.setdefault("403", {"description": "The token lacks the scope"})
        responses.setdefault("429", {"description": "Rate limit hit; see Retry-After"})
        return
    if path == "/oauth/token":
        responses.setdefault("400", _json("OAuthError", "Unsupported grant type or invalid scope"))
        responses.setdefault("401", _json("Unauthorized", "Bad credentials"))
        responses.setdefault("413", _error("Request body too large"))
        return
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("400", _error("Validation error (400000000) or a rule of the endpoint"))
    if operation.get("requestBody"):
        responses.setdefault("413", _error("Request body too large (413000000)"))
    if operation.get("security"):
        responses.setdefault("401", _json("Unauthorized", "Missing, unknown, expired or revoked token"))
        responses.setdefault("403", _error("The token lacks the scope this endpoint needs (403000000)"))
        responses.setdefault("404", _error("Not found (for this account)"))
        if method in ("post", "put"):
            responses.setdefault("409", _error("Conflict with an existing resource"))
        responses.setdefault(
            "429", {**_error("Rate limit hit (429000000)"), "headers": {"Retry-After": RETRY_AFTER}}
        )
    responses.setdefault("500", _error("Internal error (500000000)"))


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``schema`` (an OpenAPI document) in place: each operation lists the errors it answers."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                _document_operation(path, method, operation)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update({"RouteeError": ROUTEE_ERROR, "Unauthorized": UNAUTHORIZED, "OAuthError": OAUTH_ERROR})
    return schema


def install_error_documentation(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) document the real error answers."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
