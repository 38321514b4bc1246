"""``/patients``: create, read, replace; bad input is a 4xx JSON answer, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.integration.care_plan.conftest import Service
from tests.support.problems import assert_problem

pytestmark = pytest.mark.integration

INSURANCE = {
    "payer": "Acme Health",
    "memberId": "M-1234567",
    "plan": "GOLD",
    "validUntil": "2030-12-31",
}
PATIENT = {
    "firstName": "Jane",
    "lastName": "Roe",
    "gender": "FEMALE",
    "dateOfBirth": "1991-08-06",
    "insurance": INSURANCE,
}


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """A problem of ``status`` whose type is ``error`` (in the snake case these tests used)."""
    return assert_problem(response, status, error.replace("_", "-"))


async def test_create_and_read_a_patient_with_insurance(service: Service) -> None:
    created = await service.client.post("/patients", json=PATIENT)
    assert created.status_code == 201
    body = created.json()
    assert uuid.UUID(body["id"])
    assert {k: v for k, v in body.items() if k != "id"} == PATIENT
    read = await service.client.get(f"/patients/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


async def test_create_a_patient_without_insurance(service: Service) -> None:
    without = {k: v for k, v in PATIENT.items() if k != "insurance"}
    created = await service.client.post("/patients", json=without)
    assert created.status_code == 201
    assert created.json()["insurance"] is None


async def test_update_replaces_the_data_and_can_remove_the_insurance(service: Service) -> None:
    patient = (await service.client.post("/patients", json=PATIENT)).json()
    changed = {
        "firstName": "Janet",
        "lastName": "Roe-Smith",
        "gender": "FEMALE",
        "dateOfBirth": "1990-01-02",
    }
    updated = await service.client.put(f"/patients/{patient['id']}", json=changed)
    assert updated.status_code == 200
    assert updated.json() == {"id": patient["id"], **changed, "insurance": None}
    assert (await service.client.get(f"/patients/{patient['id']}")).json() == updated.json()
    again = await service.client.put(f"/patients/{patient['id']}", json=PATIENT)
    assert again.json()["insurance"] == INSURANCE


async def test_read_patient_not_found(service: Service) -> None:
    assert_error(await service.client.get(f"/patients/{uuid.uuid4()}"), 404, "not_found")


async def test_update_patient_not_found(service: Service) -> None:
    assert_error(
        await service.client.put(f"/patients/{uuid.uuid4()}", json=PATIENT), 404, "not_found"
    )


@pytest.mark.parametrize("path", ["/patients/not-a-uuid", "/patients/123", "/patients/%00"])
async def test_read_patient_with_a_malformed_id(service: Service, path: str) -> None:
    assert_error(await service.client.get(path), 422, "validation_failed")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dateOfBirth": "2999-01-01"}, "dateOfBirth"),
        ({"dateOfBirth": "06.08.1991"}, "dateOfBirth"),
        ({"dateOfBirth": "1991-02-30"}, "dateOfBirth"),
        ({"dateOfBirth": "1991-08-06T00:00:00"}, "dateOfBirth"),
        ({"dateOfBirth": 19910806}, "dateOfBirth"),
        ({"dateOfBirth": "1850-01-01"}, "dateOfBirth"),
        ({"firstName": ""}, "firstName"),
        ({"firstName": "   "}, "firstName"),
        ({"firstName": "x" * 101}, "firstName"),
        ({"lastName": None}, "lastName"),
        ({"lastName": "Ro\u0000e"}, "lastName"),
        ({"gender": 7}, "gender"),
        ({"insurance": {"payer": "Acme"}}, "insurance"),
        ({"insurance": {**INSURANCE, "validUntil": "31.12.2030"}}, "insurance"),
        ({"insurance": "GOLD"}, "insurance"),
    ],
)
async def test_create_patient_with_bad_input(
    service: Service, change: dict[str, Any], field: str
) -> None:
    body = assert_error(
        await service.client.post("/patients", json={**PATIENT, **change}), 422, "validation_failed"
    )
    assert any(field in problem["location"] for problem in body["errors"]), body


@pytest.mark.parametrize("missing", ["firstName", "lastName", "gender", "dateOfBirth"])
async def test_create_patient_without_a_required_field(service: Service, missing: str) -> None:
    body = {k: v for k, v in PATIENT.items() if k != missing}
    answer = assert_error(
        await service.client.post("/patients", json=body), 422, "validation_failed"
    )
    assert any(missing in problem["location"] for problem in answer["errors"])


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'"text"', b"", b"null"])
async def test_create_patient_with_a_body_that_is_not_an_object(
    service: Service, content: bytes
) -> None:
    response = await service.client.post(
        "/patients", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "validation_failed")


async def test_update_patient_with_a_birth_date_in_the_future(service: Service) -> None:
    patient = (await service.client.post("/patients", json=PATIENT)).json()
    response = await service.client.put(
        f"/patients/{patient['id']}", json={**PATIENT, "dateOfBirth": "2999-12-31"}
    )
    assert_error(response, 422, "validation_failed")
    assert (await service.client.get(f"/patients/{patient['id']}")).json() == patient


@pytest.mark.parametrize("key", [None, "wrong", "", "integration-test-key "])
async def test_patients_need_the_api_key(service: Service, key: str | None) -> None:
    headers = {} if key is None else {"X-API-KEY": key}
    client = service.anonymous
    for response in (
        await client.post("/patients", json=PATIENT, headers=headers),
        await client.get(f"/patients/{uuid.uuid4()}", headers=headers),
        await client.put(f"/patients/{uuid.uuid4()}", json=PATIENT, headers=headers),
        # Refused before the body is read: bad JSON without a key is a 401, not a 422.
        await client.post("/patients", content=b"{not json", headers=headers),
    ):
        assert_error(response, 401, "unauthorized")
    # Both credentials are offered: a bearer token, or the API key in development.
    assert response.headers["www-authenticate"] == 'Bearer, ApiKey header="X-API-KEY"'


async def test_health_metrics_and_docs_need_no_key(service: Service) -> None:
    client = service.anonymous
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "UP", "kafka": "UP", "workers": "UP"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_request_duration_seconds" in metrics.text
    openapi = (await client.get("/openapi.json")).json()
    validate(openapi)
    assert {"/patients", "/availability", "/patients/{patientId}/bookings"} <= set(openapi["paths"])
    assert openapi["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-KEY"
    examples = openapi["components"]["schemas"]["PatientBody"]["examples"]
    assert examples[0]["insurance"]["memberId"]
    docs = await client.get("/docs")
    assert docs.status_code == 200


async def test_unknown_path_and_method_are_json(service: Service) -> None:
    assert_error(await service.client.get("/nothing-here"), 404, "not_found")
    assert_error(await service.client.delete("/patients"), 405, "method_not_allowed")
