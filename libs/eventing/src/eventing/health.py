"""Liveness, readiness and Prometheus metrics endpoints, served without an API key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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


def health_router(
    checks: Mapping[str, ReadinessCheck],
    *,
    timeout: float = 3.0,
    degraded: Callable[[], bool] = lambda: False,
) -> APIRouter:
    """:param degraded: True while the service sheds writes (admission control): it stays
    ready, since reads work and writes get a clear 429, and says so in the body."""
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is alive")
    async def live() -> dict[str, str]:
        return {"status": "UP"}

    @router.get("/health/ready", summary="The database and Kafka are reachable")
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout)
                results[name] = "UP"
            except Exception as error:
                results[name] = f"DOWN: {type(error).__name__}: {error}"[:200]
        healthy = all(value == "UP" for value in results.values())
        return JSONResponse(
            {"status": "UP" if healthy else "DOWN", "degraded": degraded(), "checks": results},
            status_code=200 if healthy else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
