"""A provider changes only its own profile and slots, with real tokens of moto's Cognito
against the real service; reads are open to any authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.provider_schedule.conftest import ScheduleApp
from tests.support.cognito import LocalIdentities

PROVIDER = {"firstName": "Ada", "lastName": "Moss", "speciality": "Dentist", "gender": "FEMALE"}
SLOT = {
    "fromDate": "2031-03-01T09:00:00Z",
    "toDate": "2031-03-01T09:30:00Z",
    "encounterType": "VIRTUAL",
}


@pytest.fixture
async def bare_client(schedule_app: ScheduleApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=schedule_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://provider-schedule") as c:
        yield c


async def _register(client: httpx.AsyncClient, identities: LocalIdentities) -> str:
    response = await client.post(
        "/providers", json=PROVIDER, headers=identities.headers("operator")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_provider_editing_another_provider_is_forbidden(
    bare_client: httpx.AsyncClient, identities: LocalIdentities
) -> None:
    mine, theirs = (
        await _register(bare_client, identities),
        await _register(bare_client, identities),
    )
    headers = identities.headers("provider", provider_id=mine)
    changed = {**PROVIDER, "speciality": "Orthodontist"}
    assert (
        await bare_client.put(f"/providers/{theirs}", json=changed, headers=headers)
    ).status_code == 403
    assert (
        await bare_client.post(f"/providers/{theirs}/availability", json=SLOT, headers=headers)
    ).status_code == 403
    assert (await bare_client.delete(f"/providers/{theirs}", headers=headers)).status_code == 403
    own = await bare_client.put(f"/providers/{mine}", json=changed, headers=headers)
    assert own.status_code == 200, own.text
    slot = await bare_client.post(f"/providers/{mine}/availability", json=SLOT, headers=headers)
    assert slot.status_code == 201, slot.text
    # The other provider's profile is untouched.
    other = await bare_client.get(f"/providers/{theirs}", headers=headers)
    assert other.json()["speciality"] == "Dentist"


async def test_a_patient_may_read_providers_but_not_change_or_register_one(
    bare_client: httpx.AsyncClient, identities: LocalIdentities
) -> None:
    provider = await _register(bare_client, identities)
    headers = identities.headers("patient", patient_id="00000000-0000-4000-8000-000000000001")
    assert (await bare_client.get(f"/providers/{provider}", headers=headers)).status_code == 200
    assert (await bare_client.delete(f"/providers/{provider}", headers=headers)).status_code == 403
    assert (await bare_client.post("/providers", json=PROVIDER, headers=headers)).status_code == 403


async def test_without_a_token_the_service_answers_401(bare_client: httpx.AsyncClient) -> None:
    assert (await bare_client.get("/providers")).status_code == 401
