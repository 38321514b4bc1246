"""The audit trail: every read or change of a patient's data leaves a record (who, role,
action, patient, request id), the operator's reads included; nobody may change or remove one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import jwt
import pytest

from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import IDENTITY_PATIENT, FakeProvider, register_as_operator
from tests.integration.care_plan.test_bookings_api import published_slot
from tests.support.cognito import LocalIdentities


async def _register(service: Service, identities: LocalIdentities) -> str:
    return await register_as_operator(service.anonymous, identities.headers("operator"))


async def test_the_operators_read_is_audited_with_its_request_id(
    service: Service, identities: LocalIdentities
) -> None:
    patient = await _register(service, identities)
    token = identities.token("operator")
    request_id = f"req-{uuid.uuid4().hex}"
    response = await service.anonymous.get(
        f"/patients/{patient}",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
    )
    assert response.status_code == 200
    records = [
        r for r in await service.container.audit.latest(200) if r.entry.request_id == request_id
    ]
    assert len(records) == 1
    entry = records[0].entry
    assert entry.subject == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert (entry.role, entry.action) == ("operator", "GET /patients/{patientId}")
    assert str(entry.patient_id) == patient


async def test_a_patients_read_and_change_of_their_bookings_are_audited(
    service: Service, identities: LocalIdentities
) -> None:
    patient = await _register(service, identities)
    headers = identities.headers("patient", patient_id=patient)
    assert (
        await service.anonymous.get(f"/patients/{patient}/bookings", headers=headers)
    ).status_code == 200
    replaced = await service.anonymous.put(
        f"/patients/{patient}", json=IDENTITY_PATIENT, headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    actions = [
        (r.entry.role, r.entry.action)
        for r in await service.container.audit.latest(200)
        if str(r.entry.patient_id) == patient
    ]
    assert ("patient", "GET /patients/{patientId}/bookings") in actions
    assert ("patient", "PUT /patients/{patientId}") in actions
    # No patient field is kept: the record names the patient by id only.
    assert all("Lee" not in str(r.entry) for r in await service.container.audit.latest(200))


@pytest.mark.parametrize(
    "statement",
    [
        "update care_plan.audit set role = 'nobody'",
        "delete from care_plan.audit",
        "truncate care_plan.audit",
    ],
)
async def test_the_audit_trail_is_append_only(
    service: Service, identities: LocalIdentities, statement: str
) -> None:
    await _register(service, identities)  # at least one record
    async with service.container.database.connection() as connection:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute(statement)


async def test_careplan_audit_lists_the_records(
    service: Service, identities: LocalIdentities, care_plan_database: str
) -> None:
    patient = await _register(service, identities)
    request_id = f"req-{uuid.uuid4().hex}"
    headers = identities.headers("operator") | {"X-Request-ID": request_id}
    assert (await service.anonymous.get(f"/patients/{patient}", headers=headers)).status_code == 200
    settings = identities.settings.model_copy(update={"database_url": care_plan_database})
    result = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "careplan"), "audit", "--limit", "500"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**settings.as_environment(), "PATH": "/usr/bin:/bin", "COLUMNS": "250"},
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if request_id in line)
    assert patient in line
    assert "operator" in line


async def test_a_booking_and_a_refused_one_each_leave_one_record(
    service: Service, identities: LocalIdentities, provider: FakeProvider
) -> None:
    # A booking writes its record in its own transaction; one that fails (an unknown slot:
    # 404, the transaction rolled back) has it written apart.
    patient = await _register(service, identities)
    slot = await published_slot(service, provider)
    headers = identities.headers("patient", patient_id=patient)
    request_ids = {"booked": f"req-{uuid.uuid4().hex}", "refused": f"req-{uuid.uuid4().hex}"}
    for outcome, availability, status in (
        ("booked", str(slot.id), 201),
        ("refused", str(uuid.uuid4()), 404),
    ):
        response = await service.anonymous.post(
            f"/patients/{patient}/bookings",
            json={"providerAvailabilityId": availability},
            headers=headers | {"X-Request-ID": request_ids[outcome]},
        )
        assert response.status_code == status, response.text
    records = await service.container.audit.latest(200)
    for request_id in request_ids.values():
        [record] = [r for r in records if r.entry.request_id == request_id]
        assert record.entry.action == "POST /patients/{patientId}/bookings"
        assert str(record.entry.patient_id) == patient
        assert record.entry.role == "patient"
