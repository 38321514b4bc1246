"""The one patient mapping: the contract's snapshot (events, and the copy stored with a
booking) and the API's bodies read back as the patient they came from."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from care_plan.api.schemas import PatientBody, PatientOut
from care_plan.domain.model import Insurance, Patient
from care_plan.domain.snapshots import patient_of, patient_snapshot
from contract.events import PatientSnapshot

INSURANCE = Insurance("Acme", "M-1", "GOLD", date(2030, 12, 31))


@pytest.mark.parametrize("insurance", [None, INSURANCE])
def test_the_stored_patient_snapshot_reads_back_unchanged(insurance: Insurance | None) -> None:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6), insurance)
    stored = patient_snapshot(patient).to_json_dict()  # what the bookings table keeps
    assert patient_of(PatientSnapshot.model_validate(stored)) == patient


def test_the_snapshot_has_the_wire_field_names() -> None:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6), INSURANCE)
    assert patient_snapshot(patient).to_json_dict() == {
        "id": str(patient.id),
        "firstName": "Jane",
        "lastName": "Roe",
        "gender": "FEMALE",
        "dateOfBirth": "1991-08-06",
        "insurance": {
            "payer": "Acme",
            "memberId": "M-1",
            "plan": "GOLD",
            "validUntil": "2030-12-31",
        },
    }


@pytest.mark.parametrize("insurance", [None, INSURANCE])
def test_the_api_body_and_response_map_through_the_same_attributes(
    insurance: Insurance | None,
) -> None:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6), insurance)
    out = PatientOut.model_validate(patient)
    body = PatientBody.model_validate(out.model_dump(by_alias=True))
    assert Patient.of(body, id=patient.id) == patient
