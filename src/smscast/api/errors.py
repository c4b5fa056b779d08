"""The one place that turns errors into Routee error bodies (api.md §1.1)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smscast.api.wire import format_timestamp
from smscast.db.errors import DatabaseFault, FaultLog, classify
from smscast.domain.errors import DomainError, RateLimited

log = logging.getLogger("smscast.api")

DATABASE_FAULT_CODE = "503000000"
DATABASE_RETRY_AFTER_S = 5


class Unauthorized(Exception):
    """Missing, unknown, expired or revoked token: answered with Spring's 401 body."""

    def __init__(self, message: str = "Full authentication is required to access this resource") -> None:
        super().__init__(message)
        self.message = message


def error_body(code: str, message: str, properties: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "developerMessage": message}
    if properties:
        body["properties"] = properties
    return body


def domain_error_response(exc: DomainError) -> JSONResponse:
    response = JSONResponse(error_body(exc.code, exc.message, exc.properties), status_code=exc.status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def database_fault_response(fault: DatabaseFault) -> JSONResponse:
    """503 ``503000000`` with ``Retry-After``: the database is full, read-only or down (db/errors.py)."""
    return JSONResponse(
        error_body(DATABASE_FAULT_CODE, fault.message, {"database": fault.fault.value}),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def unauthorized_response(path: str, message: str) -> JSONResponse:
    body = {
        "timestamp": format_timestamp(datetime.now(UTC)),
        "status": 401,
        "error": "Unauthorized",
        "message": message,
        "path": path,
    }
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="smscast"'})


def validation_properties(errors: list[Any]) -> dict[str, str]:
    """Pydantic error list → ``{field: message}``, first message per field, camelCase field paths."""
    properties: dict[str, str] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        if error.get("type") == "json_invalid":
            field, message = "body", "Malformed JSON"
        elif error.get("type") == "missing" and not loc:
            field, message = "body", "A JSON body is required"
        else:
            field = ".".join(loc) or "body"
            message = str(error.get("msg", "invalid value"))
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
        properties.setdefault(field, message)
    return properties


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return unauthorized_response(request.url.path, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        properties = validation_properties(list(exc.errors()))
        message = "; ".join(f"{k}: {v}" for k, v in properties.items())
        return JSONResponse(error_body("400000000", message, properties), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = f"{exc.status_code:03d}000000"
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers or None
        )

    faults = FaultLog(log)

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        fault = classify(exc)
        if fault is None:
            return internal_error(request, exc)
        faults.failed("API", fault)
        return database_fault_response(fault)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("500000000", "Internal error"), status_code=500)
