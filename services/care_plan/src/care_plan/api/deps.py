"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from care_plan.bootstrap import Container
from care_plan.domain.errors import PatientNotFoundError
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from eventing.audit import REQUEST_ID_HEADER, AuditEntry, request_id_of
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


async def patient_caller(
    principal: Caller, patient_id: PatientId, request: Request, container: ContainerDep
) -> Principal:
    # Another patient's record reads as an unknown one (eventing.authorization says why).
    require_patient(principal, patient_id, PatientNotFoundError(patient_id))
    await audit(container, request, principal, patient_id)
    return principal


async def audit(
    container: Container, request: Request, principal: Principal, patient_id: UUID | None
) -> None:
    """Before the handler reaches the data: a request whose record fails is not served."""
    await container.audit.append(audit_entry(request, principal, patient_id))


def audit_entry(request: Request, principal: Principal, patient_id: UUID | None) -> AuditEntry:
    route = request.scope.get("route")
    return AuditEntry(
        subject=principal.subject,
        role=principal.role.value,
        action=f"{request.method} {getattr(route, 'path', request.url.path)}",
        patient_id=patient_id,
        request_id=request_id_of(request.headers.get(REQUEST_ID_HEADER)),
    )


async def booking_patient_caller(
    principal: Caller, patient_id: PatientId, request: Request
) -> AuditEntry:
    """``patient_caller`` for booking a slot: the record is written by the handler, in the
    booking's own transaction (``handlers.request_booking``), or apart if that fails."""
    require_patient(principal, patient_id, PatientNotFoundError(patient_id))
    return audit_entry(request, principal, patient_id)


async def registering_operator(
    principal: Caller, request: Request, container: ContainerDep
) -> Principal:
    require_role(principal)  # nobody but an operator registers patients
    await audit(container, request, principal, None)  # the id is made by the handler
    return principal


# Who calls, checked before the handler runs: any authenticated caller, the patient whose
# record the path names (or an operator), an operator.
AnyCaller = Caller
PatientCaller = Annotated[Principal, Depends(patient_caller)]
BookingPatientCaller = Annotated[AuditEntry, Depends(booking_patient_caller)]
RegisteringOperator = Annotated[Principal, Depends(registering_operator)]
