"""The HTTP application and the process entry point (``python -m provider_schedule``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import Depends, FastAPI

from eventing.admission import AdmissionMiddleware, health_with_admission
from eventing.api_docs import DocsSecurityHeaders, documented_app
from eventing.authentication import add_authentication, current_principal
from eventing.http_metrics import RequestMetricsMiddleware
from eventing.logging import configure_logging
from eventing.problem_openapi import install_openapi_conventions
from provider_schedule.api.admission import guarded_write
from provider_schedule.api.errors import register_error_handlers
from provider_schedule.api.routes import availability, providers
from provider_schedule.bootstrap import Container, bootstrap
from provider_schedule.settings import ProviderScheduleSettings
from telemetry import configure_tracing
from telemetry.instrument import instrument_asyncpg, instrument_fastapi

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

    settings = container.settings
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
    readiness = dict(container.readiness)
    if run_workers:
        readiness["workers"] = container.workers.readiness_check
    app.include_router(
        health_with_admission(
            readiness, informational=container.informational, monitor=container.admission
        )
    )
    # Inside the key check: an anonymous caller gets 401, never 429.
    app.add_middleware(
        AdmissionMiddleware,
        monitor=container.admission,
        guarded=guarded_write,
        service="provider-schedule",
    )
    # Added last = outermost: metrics count the 401s of the key check too.
    add_authentication(
        app,
        auth=settings.auth,
        api_key=settings.api_key,
        environment=settings.environment,
    )
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(DocsSecurityHeaders)
    return app


def run() -> None:
    settings = ProviderScheduleSettings()
    configure_logging(settings.log_level, service="provider-schedule")
    tracing = configure_tracing("provider-schedule")
    instrument_asyncpg(tracing)
    app = create_app(bootstrap(settings, tracing=tracing))
    instrument_fastapi(app, tracing)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our JSON logging, configured above
        access_log=False,  # RequestMetricsMiddleware counts requests instead
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    tracing.shutdown()
