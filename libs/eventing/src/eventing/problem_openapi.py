"""Every operation's OpenAPI ``responses`` list the problems it can answer, as problem+json.

Done once for the whole document, not in each route: the statuses follow from what an
operation is (secured: 401; takes parameters or a body: 422; a JSON body: 400 when it cannot
be read; a path with ids: 404), and every error answer has the one schema ``Problem``. Routes
still declare what only they know (409, 429).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from eventing.api_key import is_open
from eventing.method_not_allowed import install_method_not_allowed
from eventing.openapi_links import add_create_links
from eventing.problems import PROBLEM_JSON, FieldProblem, Problem

_REF = "#/components/schemas/{model}"
_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not UTF-8)",
    401: "The API key is missing or wrong",
    404: "No such resource (an id in the path names nothing)",
    422: "The request broke the rules of its parameters or body: `errors` says where",
}
_PROBLEM_REF = _REF.format(model="Problem")
_METHODS = ("get", "put", "post", "delete", "patch")


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template=_REF)
    schema.pop("$defs", None)
    return {
        "Problem": schema,
        "FieldProblem": FieldProblem.model_json_schema(ref_template=_REF),
    }


def _statuses(path: str, operation: dict[str, Any]) -> set[int]:
    statuses = {int(code) for code in operation.get("responses", {}) if code.isdigit()}
    if not is_open(path):
        statuses.add(401)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if operation.get("requestBody"):
        statuses.add(400)
    if "{" in path:
        statuses.add(404)
    return statuses


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every error answer of every operation documented as a Problem."""
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, operation)):
                if status < 400:
                    continue
                entry = responses.setdefault(str(status), {})
                if status in _DESCRIPTIONS and entry.get("description") in (
                    None,
                    "Validation Error",
                    HTTPStatus(status).phrase,
                ):
                    entry["description"] = _DESCRIPTIONS[status]
                entry.setdefault("description", HTTPStatus(status).phrase)
                entry["content"] = {
                    PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}
                }
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ErrorBody", "FieldError"):
        schemas.pop(unused, None)
    schemas.update(_problem_schemas())
    return document


def install_openapi_conventions(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with the problems documented and the links
    from the create operations; and answer 405 with the path's ``Allow``."""
    install_method_not_allowed(app)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_create_links(document_problems(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
