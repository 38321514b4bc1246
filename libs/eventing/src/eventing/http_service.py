"""What the two HTTP services (Provider Schedule, Care Plan) wrap around their own routes, and
how their processes start: one place, so that the order of the middleware (which decides who
gets a 401 and who a 429, and what the metrics count) cannot differ between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, cast

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import ASGIApp

from eventing.admission import (
    AdmissionMiddleware,
    AdmissionMonitor,
    GuardedRoute,
    health_with_admission,
    shed_now,
)
from eventing.api_docs import DocsSecurityHeaders
from eventing.authentication import add_authentication
from eventing.health import ReadinessCheck
from eventing.heap import settle_heap
from eventing.http_metrics import RequestMetricsMiddleware
from eventing.logging import configure_logging
from eventing.settings import AuthSettings, Environment
from telemetry import Tracing, configure_tracing
from telemetry.instrument import (
    instrument_asyncpg,
    instrument_fastapi,
    instrument_only_inside_spans,
)


class HttpServiceSettings(Protocol):
    """The part of a service's settings read here."""

    @property
    def environment(self) -> Environment: ...
    @property
    def api_key(self) -> SecretStr: ...
    @property
    def auth(self) -> AuthSettings: ...
    @property
    def log_level(self) -> str: ...
    @property
    def http_host(self) -> str: ...
    @property
    def http_port(self) -> int: ...


class HttpServiceContainer(Protocol):
    """The part of a service's composition root read here."""

    @property
    def settings(self) -> HttpServiceSettings: ...
    @property
    def readiness(self) -> Mapping[str, ReadinessCheck]: ...
    @property
    def informational(self) -> Mapping[str, ReadinessCheck]: ...
    @property
    def admission(self) -> AdmissionMonitor: ...


def install_platform_http(
    app: FastAPI,
    *,
    service: str,
    container: HttpServiceContainer,
    guarded: GuardedRoute,
    workers: ReadinessCheck | None,
) -> None:
    """The health endpoints and the middleware every service's API runs behind; call it once
    the service's own routes are in.

    :param workers: the readiness of the background workers beside the API, if they run.
    """
    readiness = dict(container.readiness)
    if workers is not None:
        readiness["workers"] = workers
    admission, settings = container.admission, container.settings
    app.include_router(
        health_with_admission(readiness, informational=container.informational, monitor=admission)
    )
    # Added before the authentication = inside it: an anonymous caller gets 401, never 429.
    app.add_middleware(AdmissionMiddleware, monitor=admission, guarded=guarded, service=service)
    add_authentication(
        app, auth=settings.auth, api_key=settings.api_key, environment=settings.environment
    )
    # Added after = outside: the metrics count the authentication's 401s too.
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(DocsSecurityHeaders)
    # What ``serve`` leaves untraced: a refused write costs no span (telemetry.instrument).
    app.state.untraced_requests = shed_now(admission, guarded)


def traced_app(app: FastAPI, tracing: Tracing) -> ASGIApp:
    """The app as served: a server span per request (tracing on), none for the writes
    admission control refuses (``install_platform_http`` names them)."""
    return cast(
        ASGIApp,
        instrument_fastapi(app, tracing, untraced=getattr(app.state, "untraced_requests", None)),
    )


def serve(
    service: str,
    settings: HttpServiceSettings,
    build_app: Callable[[Tracing], FastAPI],
    *,
    shutdown_grace_seconds: int,
) -> None:
    """The process: JSON logging, tracing from the ``OTEL_*`` variables (with the asyncpg and
    FastAPI instrumentations), the app ``build_app`` makes, served by uvicorn until a signal."""
    configure_logging(settings.log_level, service=service)
    tracing = configure_tracing(service)
    instrument_asyncpg(tracing)
    instrument_only_inside_spans(tracing)
    app = build_app(tracing)
    served = traced_app(app, tracing)
    settle_heap()
    uvicorn.run(
        served,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # the JSON logging configured above
        access_log=False,  # RequestMetricsMiddleware counts requests; a line each costs CPU
        proxy_headers=True,
        timeout_graceful_shutdown=shutdown_grace_seconds,
    )
    tracing.shutdown()
