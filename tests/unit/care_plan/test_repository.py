"""The patient snapshot stored with a booking (JSONB) reads back as the patient it was."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from care_plan.domain.model import Insurance, Patient
from care_plan.persistence.repository import patient_from_snapshot, patient_snapshot_json


@pytest.mark.parametrize("insurance", [None, Insurance("Acme", "M-1", "GOLD", date(2030, 12, 31))])
def test_the_patient_snapshot_reads_back_unchanged(insurance: Insurance | None) -> None:
    patient = Patient(uuid.uuid4(), "Jane", "Roe", "FEMALE", date(1991, 8, 6), insurance)
    assert patient_from_snapshot(patient_snapshot_json(patient)) == patient
