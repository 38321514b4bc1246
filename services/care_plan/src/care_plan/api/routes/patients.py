"""``/patients``: create, read, replace."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, status

from care_plan.api.deps import PatientCaller, PatientId, RegisteringOperator, Units
from care_plan.api.schemas import PATIENT_EXAMPLE, ErrorOut, PatientBody, PatientOut
from care_plan.domain import commands
from care_plan.domain.model import Patient
from care_plan.service_layer import handlers

router = APIRouter(
    prefix="/patients",
    tags=["patients"],
    responses={
        401: {"model": ErrorOut, "description": "Missing or invalid credentials"},
        422: {"model": ErrorOut, "description": "Invalid input"},
    },
)

_EXAMPLES = {
    "insured": {"summary": "With an insurance profile", "value": PATIENT_EXAMPLE},
    "self-paying": {
        "summary": "Without insurance",
        "value": {k: v for k, v in PATIENT_EXAMPLE.items() if k != "insurance"},
    },
}


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=PatientOut, summary="Register a patient"
)
async def create_patient(
    units: Units,
    _: RegisteringOperator,
    body: Annotated[PatientBody, Body(openapi_examples=_EXAMPLES)],
) -> PatientOut:
    async with units.begin() as uow:
        patient = await handlers.register_patient(
            commands.RegisterPatient(Patient.of(body, id=uuid.uuid4())), uow
        )
    return PatientOut.model_validate(patient)


@router.get(
    "/{patientId}",
    response_model=PatientOut,
    summary="Read a patient",
    responses={404: {"model": ErrorOut}},
)
async def get_patient(units: Units, _: PatientCaller, patient_id: PatientId) -> PatientOut:
    async with units.reading() as uow:
        return PatientOut.model_validate(await handlers.get_patient(patient_id, uow))


@router.put(
    "/{patientId}",
    response_model=PatientOut,
    summary="Replace a patient's data (insurance included: omit it to remove it)",
    responses={404: {"model": ErrorOut}},
)
async def update_patient(
    units: Units,
    _: PatientCaller,
    patient_id: PatientId,
    body: Annotated[PatientBody, Body(openapi_examples=_EXAMPLES)],
) -> PatientOut:
    async with units.begin() as uow:
        patient = await handlers.replace_patient(
            commands.ReplacePatient(Patient.of(body, id=patient_id)), uow
        )
    return PatientOut.model_validate(patient)
