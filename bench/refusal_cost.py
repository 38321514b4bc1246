"""CPU of one write that admission control refuses, through the stack both services serve.

    uv run python bench/refusal_cost.py

Under overload most requests are refusals (at 5x, four in five), and each one's CPU comes out
of the event loop the admitted bookings need. This measures that cost in this process, without
sockets (uvicorn's HTTP parsing comes on top): the platform's middleware stack
(``install_platform_http``: metrics, key check, admission) around one guarded route, the
monitor refusing everything, the 429's wait set to zero so that only CPU is counted. Three
ways, each over N requests after a warm-up:

- ``tracing off``: no tracer;
- ``10 %, refusals traced``: the FastAPI instrumentation's server span for every request, as
  before refusals were left out (``instrument_fastapi`` without ``untraced``);
- ``10 %, as served``: ``traced_app``, where a refused write gets no span.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, MutableMapping
from types import SimpleNamespace
from typing import Any, cast

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import SecretStr
from starlette.types import ASGIApp

from eventing.admission import AdmissionMiddleware, AdmissionMonitor, Backlog, Verdict
from eventing.http_service import install_platform_http, traced_app
from eventing.settings import LOCAL_API_KEY, AuthSettings, Environment
from telemetry import Tracing, configure_tracing
from telemetry.instrument import instrument_fastapi, instrument_only_inside_spans

GUARDED = "/patients/p-1/bookings"


class _Dropped(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _nothing_measured() -> Backlog:
    return Backlog()


def _guarded(method: str, path: str) -> str | None:
    return GUARDED if method == "POST" and path == GUARDED else None


def _refusing_app() -> FastAPI:
    app = FastAPI()

    @app.post(GUARDED, status_code=201)
    async def book() -> dict[str, str]:
        return {"booked": "yes"}

    monitor = AdmissionMonitor(_nothing_measured, service="bench", budget_seconds=1.0)
    monitor.verdict = Verdict(closed=True, reason="over budget")
    # What install_platform_http reads of a service's composition root (HttpServiceContainer).
    settings = SimpleNamespace(
        environment=Environment.LOCAL, api_key=SecretStr(LOCAL_API_KEY), auth=AuthSettings()
    )
    container = SimpleNamespace(
        settings=settings, readiness={}, informational={}, admission=monitor
    )
    install_platform_http(app, service="bench", container=container, guarded=_guarded, workers=None)
    for middleware in app.user_middleware:
        if cast(object, middleware.cls) is AdmissionMiddleware:
            middleware.kwargs["answer_after_seconds"] = 0.0  # CPU only, not the client's wait
    return app


def _tracing() -> Tracing:
    return configure_tracing(
        "bench",
        environ={
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
        exporter=_Dropped(),
    )


def _off() -> ASGIApp:
    return _refusing_app()


def _refusals_traced() -> ASGIApp:
    tracing = _tracing()
    instrument_only_inside_spans(tracing)
    return instrument_fastapi(_refusing_app(), tracing)  # type: ignore[no-any-return]


def _as_served() -> ASGIApp:
    tracing = _tracing()
    instrument_only_inside_spans(tracing)
    return traced_app(_refusing_app(), tracing)


async def _cpu_per_request(app: ASGIApp, requests: int) -> float:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": GUARDED,
        "raw_path": GUARDED.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"x-api-key", LOCAL_API_KEY.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    statuses: set[int] = set()

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(requests // 10):  # warm-up: the middleware stack is built on first use
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - started
    if statuses != {429}:
        raise SystemExit(f"expected every request refused, got {sorted(statuses)}")
    return elapsed / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    arguments = parser.parse_args()
    ways: list[tuple[str, Callable[[], ASGIApp]]] = [
        ("tracing off", _off),
        ("10 %, refusals traced", _refusals_traced),
        ("10 %, as served", _as_served),
    ]
    print(f"\n== CPU per refused write ({arguments.requests} requests each) ==")
    for label, build in ways:
        cost = asyncio.run(_cpu_per_request(build(), arguments.requests))
        print(f"  {label:<24} {cost * 1e6:6.0f} µs")


if __name__ == "__main__":
    main()
