"""Who reaches which patient, with real tokens of moto's Cognito against the real service
(PostgreSQL, Kafka): a patient only their own record and bookings, a provider no patient, an
operator everyone; no token, an expired one or a wrong signature get 401."""

from __future__ import annotations

import uuid

from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import IDENTITY_PATIENT, register_as_operator
from tests.support.cognito import LocalIdentities, moto_signing_key, resigned
from tests.support.tokens import private_key


async def _register(service: Service, identities: LocalIdentities) -> str:
    return await register_as_operator(service.anonymous, identities.headers("operator"))


async def test_a_patient_reads_their_own_record_and_bookings_only(
    service: Service, identities: LocalIdentities
) -> None:
    mine, theirs = await _register(service, identities), await _register(service, identities)
    headers = identities.headers("patient", patient_id=mine)
    client = service.anonymous
    assert (await client.get(f"/patients/{mine}", headers=headers)).json()["id"] == mine
    assert (await client.get(f"/patients/{mine}/bookings", headers=headers)).json() == []
    # Another patient's record answers as an unknown id would: nothing learnt by probing.
    for path in (f"/patients/{theirs}", f"/patients/{theirs}/bookings"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, response.text
    unknown = await client.get(f"/patients/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["type"] == response.json()["type"]


async def test_a_patient_may_not_register_patients_nor_a_provider_read_one(
    service: Service, identities: LocalIdentities
) -> None:
    patient = await _register(service, identities)
    client = service.anonymous
    as_patient = identities.headers("patient", patient_id=patient)
    assert (
        await client.post("/patients", json=IDENTITY_PATIENT, headers=as_patient)
    ).status_code == 403
    as_provider = identities.headers("provider", provider_id=str(uuid.uuid4()))
    refused = await client.get(f"/patients/{patient}", headers=as_provider)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/forbidden")


async def test_an_operator_reads_any_patient(service: Service, identities: LocalIdentities) -> None:
    patient = await _register(service, identities)
    response = await service.anonymous.get(
        f"/patients/{patient}", headers=identities.headers("operator")
    )
    assert response.status_code == 200
    assert response.json()["lastName"] == "Lee"


async def test_no_token_an_expired_token_or_a_wrong_signature_get_401(
    service: Service, identities: LocalIdentities
) -> None:
    patient = await _register(service, identities)
    real = identities.token("patient", patient_id=patient)
    expired = resigned(real, key=moto_signing_key(), exp=1)
    forged = resigned(real, key=private_key())
    client = service.anonymous
    assert (
        await client.get(f"/patients/{patient}", headers={"Authorization": f"Bearer {real}"})
    ).status_code == 200
    for headers in (
        {},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
    ):
        response = await client.get(f"/patients/{patient}", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")
