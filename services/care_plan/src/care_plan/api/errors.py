"""Every error is JSON ``{error, message, details?}``; bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from care_plan.domain.errors import (
    BookingNotCancellableError,
    BookingNotFoundError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidPatientError,
    PatientNotFoundError,
    SlotNotBookableError,
    SlotNotFoundError,
)
from care_plan.persistence.search import InvalidCursorError

logger = logging.getLogger(__name__)

_DOMAIN_STATUS: dict[type[DomainError], tuple[int, str]] = {
    PatientNotFoundError: (404, "not_found"),
    BookingNotFoundError: (404, "not_found"),
    SlotNotFoundError: (404, "not_found"),
    SlotNotBookableError: (409, "slot_not_bookable"),
    BookingNotCancellableError: (409, "booking_not_cancellable"),
    # As the IETF Idempotency-Key draft says for a key reused with another payload.
    IdempotencyKeyReusedError: (422, "idempotency_key_reused"),
    InvalidPatientError: (422, "validation_failed"),
}
_HTTP_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "validation_failed",
}


def error_body(
    error: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return body


def _details(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only location, message and type: pydantic's ``ctx``/``input`` may hold objects that are
    # not JSON, and echoing input back is not needed to say what is wrong.
    return [
        {
            "location": [str(part) if not isinstance(part, int) else part for part in item["loc"]],
            "message": str(item["msg"]),
            "type": str(item["type"]),
        }
        for item in error.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        details = _details(error)
        summary = "; ".join(
            f"{'.'.join(str(p) for p in d['location'])}: {d['message']}" for d in details[:5]
        )
        return JSONResponse(
            error_body("validation_failed", summary or "invalid request", details), status_code=422
        )

    @app.exception_handler(InvalidCursorError)
    async def invalid_cursor(_: Request, error: InvalidCursorError) -> JSONResponse:
        return JSONResponse(error_body("validation_failed", f"after: {error}"), status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        status, code = next(
            (mapped for kind, mapped in _DOMAIN_STATUS.items() if isinstance(error, kind)),
            (409, "conflict"),
        )
        return JSONResponse(error_body(code, str(error)), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_ERRORS.get(error.status_code, "error")
        return JSONResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred"), status_code=500
        )


def unauthorized_body(_path: str, message: str) -> dict[str, Any]:
    """The 401 of the authentication (bearer token or API key), in this service's error format."""
    return error_body("unauthorized", message)
