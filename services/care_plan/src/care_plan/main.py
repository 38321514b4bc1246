"""The FastAPI application and the process entry point (uvicorn).

The lifespan runs the outbox relay, the two consumers and the expiry sweeper as background
tasks beside the API (``eventing.supervision`` restarts one that fails), and stops them all on
shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from care_plan import bootstrap
from care_plan.api.admission import guarded_write
from care_plan.api.errors import install_error_handlers
from care_plan.api.routes import availability, bookings, patients
from care_plan.bootstrap import Container
from care_plan.settings import Settings
from eventing.api_docs import documented_app
from eventing.http_service import install_platform_http, serve
from eventing.problem_openapi import install_openapi_conventions
from eventing.supervision import WorkerGroup

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 15.0

DESCRIPTION = """
Patients, the availability read model (from `provider.availability`), search, and the booking
saga with the Provider Schedule service (CONTRACT.md). Every endpoint but health and metrics
needs a bearer token from the Cognito user pool (locally `careplan token --patient ID`) or, in
local, dev and test only, the `X-API-KEY` header (an operator). A patient reaches only their own
record and bookings.
"""


def create_app(container: Container, *, run_workers: bool = True) -> FastAPI:
    workers = WorkerGroup(bootstrap.workers(container) if run_workers else {})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.database.open()
        workers.start()
        try:
            yield
        finally:
            await workers.stop(SHUTDOWN_GRACE_SECONDS)
            await bootstrap.close(container)

    app = documented_app(
        title="Care Plan",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "patients", "description": "Patients and their insurance profile"},
            {"name": "availability", "description": "Search of bookable slots"},
            {"name": "bookings", "description": "The booking saga"},
            {"name": "operations", "description": "Health and metrics, without a key"},
        ],
    )
    app.state.container = container
    install_error_handlers(app)
    install_openapi_conventions(app)
    app.include_router(patients.router)
    app.include_router(availability.router)
    app.include_router(bookings.router)
    install_platform_http(
        app,
        service="care-plan",
        container=container,
        guarded=guarded_write,
        workers=workers.readiness_check if run_workers else None,
    )
    return app


def main() -> None:
    settings = Settings()
    serve(
        "care-plan",
        settings,
        lambda tracing: create_app(bootstrap.build(settings, tracing=tracing)),
        shutdown_grace_seconds=int(SHUTDOWN_GRACE_SECONDS),
    )
