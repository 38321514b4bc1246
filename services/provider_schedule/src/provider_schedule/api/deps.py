"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Query, Request

from eventing.authentication import Caller
from eventing.authorization import require_provider, require_role
from eventing.identity import Principal
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory

MAX_PAGE = 100_000
MAX_PAGE_SIZE = 100


async def get_units(request: Request) -> UnitOfWorkFactory:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, on every request.
    units: UnitOfWorkFactory = request.app.state.units
    return units


Units = Annotated[UnitOfWorkFactory, Depends(get_units)]
ProviderId = Annotated[UUID, Path(alias="providerId", description="The provider's id")]
AvailabilityId = Annotated[
    UUID, Path(alias="availabilityId", description="The availability's (slot's) id")
]
PageNumber = Annotated[int, Query(ge=0, le=MAX_PAGE, description="Page number, from 0")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Providers per page")]


async def own_provider(principal: Caller, provider_id: ProviderId) -> Principal:
    require_provider(principal, provider_id)
    return principal


async def operator_only(principal: Caller) -> Principal:
    require_role(principal)  # nobody but an operator
    return principal


# Route dependencies: changes to a provider's profile or slots by that provider or an operator;
# registering a provider by an operator. Reads are open to every authenticated caller: provider
# profiles and slots are what patients choose from (the Care Plan search shows them to all).
OwnProvider = Depends(own_provider)
OperatorOnly = Depends(operator_only)
