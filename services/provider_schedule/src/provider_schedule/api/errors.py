"""Every failure becomes an RFC 9457 problem (``eventing.problems``); bad input is a 4xx, never
a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import DataError, IntegrityConstraintViolationError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventing.database import constraint_of
from eventing.problems import FieldProblem, Problem, problem_response, validation_problem
from provider_schedule.domain.errors import (
    AvailabilityBookedError,
    AvailabilityNotFoundError,
    InvalidTimeRangeError,
    ProviderNotFoundError,
)
from provider_schedule.persistence.tables import NO_OVERLAP_CONSTRAINT, RANGE_ORDER_CONSTRAINT

logger = logging.getLogger(__name__)


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    errors: Sequence[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return problem_response(request.url.path, status, message, errors=errors, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return validation_problem(request.url.path, error)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers) if error.headers else None
    message = (
        error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    )
    return error_response(request, error.status_code, message, headers=headers)


async def _on_not_found(request: Request, error: Exception) -> JSONResponse:
    return error_response(request, 404, str(error))


async def _on_invalid_time_range(request: Request, error: Exception) -> JSONResponse:
    return error_response(request, 422, str(error))


async def _on_booked(request: Request, error: Exception) -> JSONResponse:
    return error_response(request, 409, str(error))


async def _on_integrity_error(request: Request, error: Exception) -> JSONResponse:
    constraint = constraint_of(error)
    if constraint == NO_OVERLAP_CONSTRAINT:
        return error_response(
            request, 409, "the slot overlaps another availability of this provider"
        )
    if constraint == RANGE_ORDER_CONSTRAINT:
        return error_response(request, 422, "fromDate must be before toDate")
    logger.warning("integrity error", extra={"constraint": constraint, "error": str(error)})
    return error_response(request, 409, "the request conflicts with the current state")


async def _on_data_error(request: Request, error: Exception) -> JSONResponse:
    # A value the database cannot store (out of its range) that validation let through.
    logger.warning("data error", extra={"error": str(error)})
    return error_response(request, 422, "a value is outside what can be stored")


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    # Starlette logs the exception itself; the client still gets a JSON body.
    return error_response(request, 500, "internal error")


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ProviderNotFoundError, _on_not_found)
    app.add_exception_handler(AvailabilityNotFoundError, _on_not_found)
    app.add_exception_handler(InvalidTimeRangeError, _on_invalid_time_range)
    app.add_exception_handler(AvailabilityBookedError, _on_booked)
    app.add_exception_handler(IntegrityConstraintViolationError, _on_integrity_error)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(Exception, _on_unexpected)
