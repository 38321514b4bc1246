"""RFC 9457 problem details: the one error body of every HTTP service of the platform.

Every 4xx and 5xx answer is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and ``instance``, and ``errors`` (where in the request, what is wrong) when the
request broke field rules. CONTRACT.md section 4 asks for exactly this; the status codes stay
what each service answered before.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPES = "https://careplan.example/problems/"


class FieldProblem(BaseModel):
    location: str = Field(description="Where in the request, e.g. `body.fromDate`")
    message: str = Field(description="What is wrong with it")


class Problem(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": f"{PROBLEM_TYPES}validation-failed",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "body.fromDate: Field required",
                    "instance": "/providers/3c8e6f2e-…/availability",
                    "errors": [{"location": "body.fromDate", "message": "Field required"}],
                }
            ]
        }
    )

    type: str = Field(description="A URI that names the kind of problem")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What happened this time, for a person")
    instance: str = Field(description="The request path")
    errors: list[FieldProblem] | None = Field(
        default=None, description="The request's field problems, when it broke field rules"
    )


def problem_type(kind: str) -> str:
    """``validation-failed`` -> the URI naming that kind of problem."""
    return f"{PROBLEM_TYPES}{kind}"


def problem_response(
    path: str,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """:param kind: the problem's type slug; by default the status phrase
    (``not-found``, ``conflict``...)."""
    phrase = HTTPStatus(status).phrase
    body = Problem(
        type=problem_type(kind or phrase.lower().replace(" ", "-")),
        title=phrase,
        status=status,
        detail=detail,
        instance=path,
        errors=list(errors) if errors else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def field_problems(error: RequestValidationError) -> list[FieldProblem]:
    """pydantic's errors as field problems: location and message only (its ``ctx`` and
    ``input`` may hold what is not JSON, and echoing input back is not needed)."""
    problems = []
    for item in error.errors():
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "json_invalid":
            context = item.get("ctx") or {}
            message = f"malformed JSON: {context.get('error', 'cannot be parsed')}"
        location = ".".join(str(part) for part in item.get("loc", ()))
        problems.append(FieldProblem(location=location, message=message))
    return problems


def validation_problem(path: str, error: RequestValidationError) -> JSONResponse:
    problems = field_problems(error)
    summary = "; ".join(f"{p.location}: {p.message}" for p in problems[:5]) or "invalid request"
    return problem_response(path, 422, summary, kind="validation-failed", errors=problems)


def unauthorized_problem(path: str, message: str) -> dict[str, Any]:
    """The body of the API key check's 401 (``eventing.api_key``)."""
    return Problem(
        type=problem_type("unauthorized"),
        title=HTTPStatus(401).phrase,
        status=401,
        detail=message,
        instance=path,
    ).model_dump(exclude_none=True)


def too_many_requests_response(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry of a write that admission control may refuse."""
    return {
        429: {
            "description": f"The platform is behind: {what} was not written. Retry after the "
            "number of seconds in `Retry-After`; with the same `Idempotency-Key` a retry is safe.",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
            "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
        }
    }
