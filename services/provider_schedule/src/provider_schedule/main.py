"""The HTTP application and the process entry point (``python -m provider_schedule``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from eventing.api_docs import documented_app
from eventing.authentication import current_principal
from eventing.http_service import install_platform_http, serve
from eventing.problem_openapi import install_openapi_conventions
from provider_schedule.api.admission import guarded_write
from provider_schedule.api.errors import register_error_handlers
from provider_schedule.api.routes import availability, providers
from provider_schedule.bootstrap import Container, bootstrap
from provider_schedule.settings import ProviderScheduleSettings

logger = logging.getLogger(__name__)

DESCRIPTION = """
Providers, their availability (slots), and the booking responder that answers
`provider.availability.booking.requests`.

Every request except `/health/*`, `/metrics` and these documents needs a bearer token from
the Cognito user pool (locally `careplan token --provider ID`) or, in local, dev and test only,
the header `X-API-KEY` (`LOCAL_DEV`; use **Authorize**). Errors are RFC 9457
`application/problem+json`: `{type, title, status, detail, instance, errors?}`. Dates are
ISO-8601 (with an offset; none means UTC) or the legacy `dd.MM.yyyy` form.
"""


def create_app(container: Container, *, run_workers: bool = True) -> FastAPI:
    """The API over ``container``. With ``run_workers`` the lifespan runs the outbox relay and
    the booking responder next to it, and stops them (and the clients) on shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.open()
        if run_workers:
            await container.start()
        logger.info("provider-schedule started", extra={"workers": run_workers})
        try:
            yield
        finally:
            await container.stop()
            logger.info("provider-schedule stopped")

    app = documented_app(
        title="Provider Schedule",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.units = container.units
    app.state.container = container
    register_error_handlers(app)
    install_openapi_conventions(app)
    secured = [Depends(current_principal)]  # every route: an authenticated caller
    app.include_router(providers.router, dependencies=secured)
    app.include_router(availability.router, dependencies=secured)
    install_platform_http(
        app,
        service="provider-schedule",
        container=container,
        guarded=guarded_write,
        workers=container.workers.readiness_check if run_workers else None,
    )
    return app


def run() -> None:
    settings = ProviderScheduleSettings()
    serve(
        "provider-schedule",
        settings,
        lambda tracing: create_app(bootstrap(settings, tracing=tracing)),
        shutdown_grace_seconds=20,
    )
