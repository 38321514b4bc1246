"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from care_plan.bootstrap import Container
from eventing.api_key import api_key_scheme


async def get_container(request: Request) -> Container:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, on every request.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]
# Enforced by ApiKeyMiddleware; declared per route so that OpenAPI shows the scheme.
ApiKey = Annotated[str | None, Security(api_key_scheme)]
