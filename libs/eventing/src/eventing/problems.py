"""RFC 9457 problem details, the body of the platform's ``application/problem+json`` answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    type: str = Field(description="A URI that names the kind of problem")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What happened this time, for a person")
    instance: str = Field(description="The request path")


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
