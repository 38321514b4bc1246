"""The exported OpenAPI documents are valid, current, and cover the contract's HTTP API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from devstack.openapi import DOCUMENTS, main

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi"

CONTRACT_PATHS = {
    "provider-schedule.openapi.json": {
        ("post", "/providers"),
        ("get", "/providers/{providerId}"),
        ("delete", "/providers/{providerId}"),
        ("get", "/providers/{providerId}/availability"),
        ("post", "/providers/{providerId}/availability"),
        ("delete", "/providers/{providerId}/availability/{availabilityId}"),
    },
    "care-plan.openapi.json": {
        ("post", "/patients"),
        ("get", "/patients/{patientId}"),
        ("get", "/availability"),
        ("get", "/patients/{patientId}/bookings"),
        ("post", "/patients/{patientId}/bookings"),
        ("delete", "/patients/{patientId}/bookings/{bookingId}"),
    },
}


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((DOCS / name).read_text(encoding="utf-8")))


def test_exported_documents_are_current() -> None:
    assert main(["--check", str(DOCS)]) == 0


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_openapi(name: str) -> None:
    validate(_load(name))


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_contract_path_is_documented_with_an_example_body(name: str) -> None:
    document = _load(name)
    operations = {(method, path) for path, item in document["paths"].items() for method in item}

    assert CONTRACT_PATHS[name] <= operations
    for method, path in CONTRACT_PATHS[name]:
        body = document["paths"][path][method].get("requestBody")
        if body is None:
            continue
        content = body["content"]["application/json"]
        schema_ref = content["schema"].get("$ref", "")
        schema = document["components"]["schemas"].get(schema_ref.rsplit("/", 1)[-1], {})
        assert "example" in content or "examples" in content or "examples" in schema, (
            f"{method.upper()} {path} has no example"
        )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_error_answer_is_documented_as_a_problem(name: str) -> None:
    document = _load(name)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"] == problem, (method, path, status)
            if not path.startswith(("/health/", "/metrics")):
                assert "401" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "422"} <= set(responses), (method, path)
    schema = document["components"]["schemas"]["Problem"]
    assert set(schema["required"]) == {"type", "title", "status", "detail", "instance"}
    assert "errors" in schema["properties"]
