"""``/patients``: create, read, replace."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, status

from care_plan.api.deps import ApiKey, ContainerDep
from care_plan.api.schemas import PATIENT_EXAMPLE, ErrorOut, PatientBody, PatientOut
from care_plan.domain.errors import PatientNotFoundError
from care_plan.persistence.repository import PatientRepository

router = APIRouter(
    prefix="/patients",
    tags=["patients"],
    responses={
        401: {"model": ErrorOut, "description": "Missing or wrong API key"},
        422: {"model": ErrorOut, "description": "Invalid input"},
    },
)

PatientId = Annotated[UUID, Path(alias="patientId", description="The patient's id")]
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
    container: ContainerDep,
    _: ApiKey,
    body: Annotated[PatientBody, Body(openapi_examples=_EXAMPLES)],
) -> PatientOut:
    patient = body.to_domain(uuid.uuid4())
    async with container.database.transaction() as connection:
        await PatientRepository(connection).add(patient)
    return PatientOut.of(patient)


@router.get(
    "/{patientId}",
    response_model=PatientOut,
    summary="Read a patient",
    responses={404: {"model": ErrorOut}},
)
async def get_patient(container: ContainerDep, _: ApiKey, patient_id: PatientId) -> PatientOut:
    async with container.database.connection() as connection:
        patient = await PatientRepository(connection).get(patient_id)
    if patient is None:
        raise PatientNotFoundError(patient_id)
    return PatientOut.of(patient)


@router.put(
    "/{patientId}",
    response_model=PatientOut,
    summary="Replace a patient's data (insurance included: omit it to remove it)",
    responses={404: {"model": ErrorOut}},
)
async def update_patient(
    container: ContainerDep,
    _: ApiKey,
    patient_id: PatientId,
    body: Annotated[PatientBody, Body(openapi_examples=_EXAMPLES)],
) -> PatientOut:
    patient = body.to_domain(patient_id)
    async with container.database.transaction() as connection:
        if not await PatientRepository(connection).replace(patient):
            raise PatientNotFoundError(patient_id)
    return PatientOut.of(patient)
