"""The middleware and the route dependencies on a small app: who gets 401, 403 or 404."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import SecretStr

from eventing.authentication import AuthenticationMiddleware, Caller
from eventing.authorization import require_patient, require_provider
from tests.support.tokens import VERIFIER, claims, private_key, token

PATIENT = uuid4()
PROVIDER = uuid4()


async def patient_caller(principal: Caller, patient_id: UUID) -> None:
    require_patient(principal, patient_id, HTTPException(404, "no such patient"))


async def provider_caller(principal: Caller, provider_id: UUID) -> None:
    require_provider(principal, provider_id)


def _client(*, accept_api_key: bool = True) -> TestClient:
    app = FastAPI()

    @app.get("/patients/{patient_id}", dependencies=[Depends(patient_caller)])
    async def read_patient(patient_id: UUID, caller: Caller) -> dict[str, str]:
        return {"role": caller.role.value, "subject": caller.subject}

    @app.put("/providers/{provider_id}", dependencies=[Depends(provider_caller)])
    async def edit_provider(provider_id: UUID) -> dict[str, str]:
        return {"edited": str(provider_id)}

    app.add_middleware(
        AuthenticationMiddleware,
        verifier=VERIFIER,
        api_key=SecretStr("the-key"),
        accept_api_key=accept_api_key,
    )
    return TestClient(app)


def _bearer(**overrides: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(claims(**overrides))}"}


def _patient(patient: UUID = PATIENT) -> dict[str, str]:
    return _bearer(**{"custom:patient_id": str(patient)})


def _provider(provider: UUID = PROVIDER) -> dict[str, str]:
    return _bearer(
        **{
            "custom:role": "provider",
            "custom:patient_id": None,
            "custom:provider_id": str(provider),
        }
    )


def test_a_patient_reads_their_own_record() -> None:
    response = _client().get(f"/patients/{PATIENT}", headers=_patient())
    assert response.status_code == 200
    assert response.json() == {"role": "patient", "subject": "user-1"}


def test_a_patient_reading_another_patient_gets_the_unknown_patient_answer() -> None:
    response = _client().get(f"/patients/{uuid4()}", headers=_patient())
    assert response.status_code == 404


def test_a_provider_editing_another_provider_is_forbidden() -> None:
    client = _client()
    assert client.put(f"/providers/{uuid4()}", headers=_provider()).status_code == 403
    assert client.put(f"/providers/{PROVIDER}", headers=_provider()).status_code == 200


def test_a_patient_may_not_edit_a_provider_nor_a_provider_read_a_patient() -> None:
    client = _client()
    assert client.put(f"/providers/{PROVIDER}", headers=_patient()).status_code == 403
    assert client.get(f"/patients/{PATIENT}", headers=_provider()).status_code == 403


def test_an_operator_reaches_every_patient_and_provider() -> None:
    operator = _bearer(**{"custom:role": "operator", "custom:patient_id": None})
    client = _client()
    assert client.get(f"/patients/{uuid4()}", headers=operator).status_code == 200
    assert client.put(f"/providers/{uuid4()}", headers=operator).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        _bearer(exp=1),
        {"Authorization": f"Bearer {token(claims(), key=private_key())}"},
        {"X-API-KEY": "not-the-key"},
    ],
    ids=["no credential", "not bearer", "expired", "wrong signature", "wrong key"],
)
def test_a_caller_without_a_valid_credential_gets_401(headers: dict[str, str]) -> None:
    response = _client().get(f"/patients/{PATIENT}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_api_key_is_an_operator_where_the_environment_allows_it() -> None:
    response = _client().get(f"/patients/{uuid4()}", headers={"X-API-KEY": "the-key"})
    assert response.json() == {"role": "operator", "subject": "api-key"}


def test_the_api_key_opens_nothing_where_the_environment_does_not_allow_it() -> None:
    response = _client(accept_api_key=False).get(
        f"/patients/{PATIENT}", headers={"X-API-KEY": "the-key"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "not accepted in this environment" in response.json()["detail"]
