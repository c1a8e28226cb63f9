"""The one error envelope, and the one table from every failure to it.

Services raise domain errors (``core/errors.py``); ``DOMAIN_CODES`` gives each its error code,
``STATUS_BY_CODE`` the code's status. The edge's own refusals (rate limit) raise ``ApiError``.
``register_error_handlers`` turns every exception the stack can raise into
``{"error": {"code", "message", "details"?}}`` with the documented status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from connexion.exceptions import (
    BadRequestProblem,
    OAuthProblem,
    OAuthResponseProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionResponse
from peewee import InterfaceError, OperationalError
from playhouse.pool import MaxConnectionsExceeded
from starlette.exceptions import HTTPException

from core.errors import (
    AccessTokenExpired,
    AccountDisabled,
    AccountLocked,
    Conflict,
    DomainError,
    EmailTaken,
    Forbidden,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    PreconditionFailed,
)

log = logging.getLogger("cairn.errors")

STATUS_BY_CODE: dict[str, int] = {
    "VALIDATION_ERROR": 400,
    "INVALID_TOKEN": 400,
    "UNAUTHORIZED": 401,
    "TOKEN_EXPIRED": 401,
    "INVALID_CREDENTIALS": 401,
    "FORBIDDEN": 403,
    "ACCOUNT_DISABLED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "EMAIL_EXISTS": 409,
    "CONFLICT": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "PRECONDITION_FAILED": 412,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "IDEMPOTENCY_KEY_MISMATCH": 422,
    "ACCOUNT_LOCKED": 423,
    "RATE_LIMITED": 429,
    "REQUEST_HEADERS_TOO_LARGE": 431,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
CODE_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    431: "REQUEST_HEADERS_TOO_LARGE",
    503: "SERVICE_UNAVAILABLE",
}
MAX_ECHOED_CHARS = 200
RETRY_AFTER_SECONDS = 1


DOMAIN_CODES: dict[type[DomainError], str] = {
    InvalidInput: "VALIDATION_ERROR",
    InvalidToken: "INVALID_TOKEN",
    NotAuthenticated: "UNAUTHORIZED",
    AccessTokenExpired: "TOKEN_EXPIRED",
    InvalidCredentials: "INVALID_CREDENTIALS",
    Forbidden: "FORBIDDEN",
    AccountDisabled: "ACCOUNT_DISABLED",
    NotFound: "NOT_FOUND",
    EmailTaken: "EMAIL_EXISTS",
    Conflict: "CONFLICT",
    IdempotencyKeyInUse: "IDEMPOTENCY_CONFLICT",
    IdempotencyKeyMismatch: "IDEMPOTENCY_KEY_MISMATCH",
    PreconditionFailed: "PRECONDITION_FAILED",
    AccountLocked: "ACCOUNT_LOCKED",
}


def code_of(exc: DomainError) -> str:
    """The error code of a domain error (the nearest class in ``DOMAIN_CODES``)."""
    return next(DOMAIN_CODES[cls] for cls in type(exc).__mro__ if cls in DOMAIN_CODES)


class ApiError(Exception):
    """An error the edge itself raises with a documented code; its status comes from ``STATUS_BY_CODE``."""

    def __init__(
        self,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message
        self.details = details
        self.headers = headers or {}


def envelope(code: str, message: str, details: list | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_body(code: str, message: str, details: list | None = None) -> bytes:
    return json.dumps(envelope(code, message, details)).encode()


def truncate(text: str, limit: int = MAX_ECHOED_CHARS) -> str:
    """Keep error messages short: they may echo a hostile value."""
    return text if len(text) <= limit else text[:limit] + "…"


def error_response(
    status: int, code: str, message: str, details: list | None = None, headers: dict | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type="application/json",
        body=error_body(code, message, details),
        headers=headers or {},
    )


def _from_api_error(exc: ApiError) -> ConnexionResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _from_domain_error(exc: DomainError) -> ConnexionResponse:
    code = code_of(exc)
    details = [{"field": exc.field, "message": exc.problem}] if isinstance(exc, InvalidInput) else None
    retry_after = exc.retry_after if isinstance(exc, (AccountLocked, IdempotencyKeyInUse)) else None
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(STATUS_BY_CODE[code], code, exc.message, details, headers)


def _from_problem(exc: ProblemException) -> ConnexionResponse:
    if isinstance(exc, (OAuthProblem, OAuthResponseProblem)):
        return error_response(401, "UNAUTHORIZED", "Missing or invalid credentials")
    if isinstance(exc, UnsupportedMediaTypeProblem):
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    if isinstance(exc, BadRequestProblem):
        details = getattr(exc, "details", None) or [{"field": "", "message": truncate(str(exc.detail))}]
        return error_response(400, "VALIDATION_ERROR", "Invalid input", details)
    status = exc.status or 500
    code = CODE_BY_STATUS.get(status, "INTERNAL_ERROR")
    if code == "INTERNAL_ERROR":
        log.error("unexpected problem: %s", exc.detail)
        return error_response(500, code, "Internal server error")
    return error_response(status, code, truncate(str(exc.detail or exc.title)))


def _from_http_exception(exc: HTTPException, path: str) -> ConnexionResponse:
    code = CODE_BY_STATUS.get(exc.status_code, "INTERNAL_ERROR")
    messages = {
        404: "No such path",
        405: "Method not allowed",
        413: "Request body is larger than 1 MiB",
        415: "Content-Type must be application/json",
        431: "Request headers are larger than 32 KiB in all",
    }
    message = messages.get(exc.status_code) or truncate(str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and allowed_methods is not None:
        # Starlette's Allow names only one method; rebuild it from the spec.
        headers["Allow"] = ", ".join(allowed_methods(path))
    return error_response(exc.status_code, code, message, headers=headers)


def _database_unavailable(exc: Exception) -> ConnexionResponse:
    log.error("database unavailable: %s", exc)
    return error_response(
        503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def _unhandled(exc: Exception) -> ConnexionResponse:
    log.error("unhandled exception", exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Internal server error")


def to_response(exc: Exception, path: str = "") -> ConnexionResponse:
    """The envelope response for any exception."""
    if isinstance(exc, DomainError):
        return _from_domain_error(exc)
    if isinstance(exc, ApiError):
        return _from_api_error(exc)
    if isinstance(exc, ProblemException):
        return _from_problem(exc)
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc, path)
    if isinstance(exc, (OperationalError, InterfaceError, MaxConnectionsExceeded)):
        return _database_unavailable(exc)
    return _unhandled(exc)


def handle(request: Any, exc: Exception) -> ConnexionResponse:
    """Connexion error handler: ``handler(request, exc) -> ConnexionResponse``."""
    return to_response(exc, request.url.path if request is not None else "")


allowed_methods: Callable[[str], list[str]] | None = None


def register_error_handlers(app: Any, methods_for_path: Callable[[str], list[str]]) -> None:
    global allowed_methods
    allowed_methods = methods_for_path
    for exc_class in (DomainError, ApiError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_class, handle)
