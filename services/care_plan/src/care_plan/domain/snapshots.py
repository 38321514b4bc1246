"""The patient on the wire (the contract's ``PatientSnapshot``): the one mapping, both ways.

Booking events carry it, and a booking stores it (as the wire's JSON) so that every event of
the booking carries the patient as at the request; the HTTP API reads the same attributes
(``PatientOut``, pydantic's ``from_attributes``) and builds a patient with ``Patient.of``.
"""

from __future__ import annotations

from care_plan.domain.model import Patient
from contract.events import Insurance, PatientSnapshot


def patient_snapshot(patient: Patient) -> PatientSnapshot:
    # Field by field rather than ``from_attributes``: this runs for every booking and every
    # booking event, and pydantic reads a slotted dataclass's attributes four times slower.
    insurance = patient.insurance
    return PatientSnapshot(
        id=patient.id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        gender=patient.gender,
        date_of_birth=patient.date_of_birth,
        insurance=Insurance(
            payer=insurance.payer,
            member_id=insurance.member_id,
            plan=insurance.plan,
            valid_until=insurance.valid_until,
        )
        if insurance is not None
        else None,
    )


def patient_of(snapshot: PatientSnapshot) -> Patient:
    return Patient.of(snapshot, id=snapshot.id)
