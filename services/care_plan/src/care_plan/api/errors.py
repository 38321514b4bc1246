"""Every error is an RFC 9457 problem (``eventing.problems``) with the status codes Care Plan
always answered; bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging

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
from eventing.problems import FieldProblem, problem_response, validation_problem

logger = logging.getLogger(__name__)

# Status and problem type of each domain error.
_DOMAIN_STATUS: dict[type[DomainError], tuple[int, str]] = {
    PatientNotFoundError: (404, "not-found"),
    BookingNotFoundError: (404, "not-found"),
    SlotNotFoundError: (404, "not-found"),
    SlotNotBookableError: (409, "slot-not-bookable"),
    BookingNotCancellableError: (409, "booking-not-cancellable"),
    # As the IETF Idempotency-Key draft says for a key reused with another payload.
    IdempotencyKeyReusedError: (422, "idempotency-key-reused"),
    InvalidPatientError: (422, "validation-failed"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return validation_problem(request.url.path, error)

    @app.exception_handler(InvalidCursorError)
    async def invalid_cursor(request: Request, error: InvalidCursorError) -> JSONResponse:
        problem = FieldProblem(location="query.after", message=str(error))
        return problem_response(
            request.url.path,
            422,
            f"after: {error}",
            kind="validation-failed",
            errors=[problem],
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        status, kind = next(
            (mapped for known, mapped in _DOMAIN_STATUS.items() if isinstance(error, known)),
            (409, "conflict"),
        )
        return problem_response(request.url.path, status, str(error), kind=kind)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            request.url.path,
            error.status_code,
            str(error.detail),
            headers=dict(error.headers) if error.headers else None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request.url.path, 500, "an unexpected error occurred")
