"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from care_plan.bootstrap import Container
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from eventing.api_key import api_key_scheme


async def get_container(request: Request) -> Container:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, on every request.
    container: Container = request.app.state.container
    return container


async def get_units(request: Request) -> UnitOfWorkFactory:
    units: UnitOfWorkFactory = request.app.state.container.units
    return units


ContainerDep = Annotated[Container, Depends(get_container)]
Units = Annotated[UnitOfWorkFactory, Depends(get_units)]
# Enforced by ApiKeyMiddleware; declared per route so that OpenAPI shows the scheme.
ApiKey = Annotated[str | None, Security(api_key_scheme)]
