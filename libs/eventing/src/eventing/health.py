"""Liveness, readiness and Prometheus metrics endpoints, served without an API key.

Readiness tells whether sending this process requests is useful. An HTTP service whose database
answers is useful while Kafka is away: its writes go to the outbox (the relay sends them once
the broker is back) and its reads never touch Kafka. Taking every replica out of rotation for
a broker restart would turn a delay into an outage, so Kafka is an *informational* check: it
is reported, and it makes the service ``degraded``, but the answer stays 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

if TYPE_CHECKING:
    # A type only: the health endpoints need no database driver when a service has no database.
    from eventing.database import Database

ReadinessCheck = Callable[[], Awaitable[None]]


def database_check(database: Database) -> ReadinessCheck:
    return database.ping


def kafka_check(client_config: Mapping[str, Any]) -> ReadinessCheck:
    admin = AdminClient({**client_config, "log_level": 0})

    async def check() -> None:
        await asyncio.to_thread(admin.list_topics, timeout=2)

    return check


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    unpublished_events: int
    oldest_unpublished_age_seconds: float


async def _run_checks(checks: Mapping[str, ReadinessCheck], timeout: float) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout)
            results[name] = "UP"
        except Exception as error:
            results[name] = f"DOWN: {type(error).__name__}: {error}"[:200]
    return results


def health_router(
    checks: Mapping[str, ReadinessCheck],
    *,
    timeout: float = 3.0,
    degraded: Callable[[], bool] = lambda: False,
    informational: Mapping[str, ReadinessCheck] | None = None,
    outbox: Callable[[], OutboxBacklog] | None = None,
    informational_timeout: float = 0.5,
) -> APIRouter:
    """:param checks: what the process cannot serve without: one DOWN answers 503.
    :param informational: reported, and DOWN makes the service ``degraded``, but it stays
        ready (Kafka for a service with an outbox).
    :param degraded: True while the service sheds writes (admission control): it stays
        ready, since reads work and writes get a clear 429, and says so in the body.
    :param outbox: the outbox backlog as last measured, shown in the body."""
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is alive")
    async def live() -> dict[str, str]:
        return {"status": "UP"}

    @router.get(
        "/health/ready",
        summary="Whether to send this process requests",
        description="503 when something it cannot serve without is down; 200 otherwise, with "
        "`degraded: true` while it sheds writes or an informational check (Kafka) is down.",
    )
    async def ready() -> JSONResponse:
        results = await _run_checks(checks, timeout)
        # Informational checks are bounded tighter: a probe must not wait out a broker timeout
        # (Kubernetes' default probe timeout is one second).
        extra = await _run_checks(informational or {}, min(timeout, informational_timeout))
        healthy = all(value == "UP" for value in results.values())
        body: dict[str, Any] = {
            "status": "UP" if healthy else "DOWN",
            "degraded": degraded() or any(value != "UP" for value in extra.values()),
            "checks": results | extra,
        }
        if outbox is not None:
            backlog = outbox()
            body["outbox"] = {
                "unpublishedEvents": backlog.unpublished_events,
                "oldestUnpublishedAgeSeconds": round(backlog.oldest_unpublished_age_seconds, 3),
            }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        # Exemplars (trace ids on latency buckets) exist only in OpenMetrics: a Prometheus
        # with exemplar storage on asks for it; everyone else gets the classic text format.
        if "application/openmetrics-text" in request.headers.get("accept", ""):
            return Response(
                openmetrics.generate_latest(REGISTRY),  # type: ignore[no-untyped-call]
                media_type=openmetrics.CONTENT_TYPE_LATEST,
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
