"""One error hierarchy and one handler: every error body is {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database does not answer (a restart, a lock, a full pool).
DB_RETRY_AFTER_SECONDS = 5


class AppError(Exception):
    """Base of all errors the API reports; services raise these, never HTTPException."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


class DatabaseUnavailable(AppError):
    status_code = 503
    code = "database_unavailable"


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one error format of the API."""

    error: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Declare error responses on a route so they appear in OpenAPI."""
    return {code: {"model": ErrorResponse} for code in codes}


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}


def error_response(
    status_code: int, code: str, message: str, *, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A response in the one error format, for middleware that answers before the app runs."""
    return JSONResponse(_body(code, message, details), status_code=status_code, headers=headers)


def internal_error_response() -> JSONResponse:
    """The 500 every unhandled exception becomes: no traceback or exception text goes to the client."""
    return error_response(500, "internal_error", "internal server error; it has been logged")


# Errors that mean "the database did not answer", not "this request is wrong": a connection refused or
# dropped (PostgreSQL restarting), SQLite's `database is locked`, no pooled connection free in time.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database is unreachable or busy, so the request may simply be retried."""
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def database_unavailable_response(exc: BaseException) -> JSONResponse:
    """503 with Retry-After; the log names the driver error's class only (SQL and parameters stay out)."""
    orig = getattr(exc, "orig", None)
    log.warning("database unavailable: %s (%s)", type(exc).__name__, type(orig).__name__ if orig else "-")
    return error_response(
        503,
        DatabaseUnavailable.code,
        "the database is not answering right now; retry shortly",
        headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one format."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message, exc.details), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse(_body("validation_error", "request validation failed", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        if not is_database_unavailable(exc):
            raise exc  # any other database error is a bug: the catch-all middleware answers 500
        return database_unavailable_response(exc)

    app.add_exception_handler(DBAPIError, _database)
    for error_class in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_class, _database)
