"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from care_plan.bootstrap import Container
from care_plan.domain.errors import PatientNotFoundError
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from eventing.authentication import Caller
from eventing.authorization import require_patient, require_role
from eventing.identity import Principal


async def get_container(request: Request) -> Container:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, on every request.
    container: Container = request.app.state.container
    return container


async def get_units(request: Request) -> UnitOfWorkFactory:
    units: UnitOfWorkFactory = request.app.state.container.units
    return units


ContainerDep = Annotated[Container, Depends(get_container)]
Units = Annotated[UnitOfWorkFactory, Depends(get_units)]
PatientId = Annotated[UUID, Path(alias="patientId", description="The patient's id")]


async def patient_caller(principal: Caller, patient_id: PatientId) -> Principal:
    # Another patient's record reads as an unknown one (eventing.authorization says why).
    require_patient(principal, patient_id, PatientNotFoundError(patient_id))
    return principal


async def operator_caller(principal: Caller) -> Principal:
    require_role(principal)  # nobody but an operator
    return principal


# Who calls, checked before the handler runs: any authenticated caller, the patient whose
# record the path names (or an operator), an operator.
AnyCaller = Caller
PatientCaller = Annotated[Principal, Depends(patient_caller)]
OperatorCaller = Annotated[Principal, Depends(operator_caller)]
