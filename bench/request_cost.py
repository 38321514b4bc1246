"""CPU of one request through the stack both services serve, admitted or refused by admission
control, with tracing off, at 10 % and at 100 % sampling.

    uv run python bench/request_cost.py

Every booking is one such request on Care Plan's event loop, the process that saturates first;
under overload most requests are refusals (at 5x, four in five), and each one's CPU comes out
of what the admitted bookings need. Measured in this process, without sockets (uvicorn's HTTP
parsing comes on top) and without a database (the route answers at once): the platform's
middleware stack (``install_platform_http``: metrics, key check, admission) around one guarded
route, as ``serve`` wraps it (``traced_app``: the sampling edge, the FastAPI instrumentation),
the 429's wait set to zero so that only CPU is counted. Spans end in an exporter that drops
them: the OTLP encoding a real exporter adds on its thread (~90 µs a span on the fifth
session's machine) is not in these figures. What tracing adds to a request is the
difference to ``off``: at 10 % the nine requests in ten the sampler drops pass the
instrumentation untouched (telemetry.instrument), and a refused write never gets a span.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import Any, cast

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import SecretStr
from starlette.types import ASGIApp

from eventing.admission import AdmissionMiddleware, AdmissionMonitor, Backlog, Verdict
from eventing.http_service import install_platform_http, traced_app
from eventing.settings import LOCAL_API_KEY, AuthSettings, Environment
from telemetry import configure_tracing
from telemetry.instrument import instrument_only_inside_spans

GUARDED = "/patients/p-1/bookings"


class _Dropped(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _nothing_measured() -> Backlog:
    return Backlog()


def _guarded(method: str, path: str) -> str | None:
    return GUARDED if method == "POST" and path == GUARDED else None


def _app(*, refusing: bool) -> FastAPI:
    app = FastAPI()

    @app.post(GUARDED, status_code=201)
    async def book() -> dict[str, str]:
        return {"booked": "yes"}

    monitor = AdmissionMonitor(_nothing_measured, service="bench", budget_seconds=1.0)
    if refusing:
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


def _served(sampling: float | None, *, refusing: bool) -> ASGIApp:
    """The app as ``serve`` runs it, with tracing off (None) or at a sampling ratio."""
    if sampling is None:
        return _app(refusing=refusing)
    tracing = configure_tracing(
        "bench",
        environ={
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(sampling),
        },
        exporter=_Dropped(),
    )
    instrument_only_inside_spans(tracing)
    return traced_app(_app(refusing=refusing), tracing)


async def _cpu_per_request(app: ASGIApp, requests: int, expected: int) -> float:
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
    if statuses != {expected}:
        raise SystemExit(f"expected every request answered {expected}, got {sorted(statuses)}")
    return elapsed / requests


SAMPLINGS: list[tuple[str, float | None]] = [("off", None), ("10 %", 0.1), ("100 %", 1.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    arguments = parser.parse_args()
    print(f"\n== CPU per request through the served stack ({arguments.requests} each) ==")
    print(f"  {'tracing':<8} {'admitted':>9} {'refused':>9}")
    for label, sampling in SAMPLINGS:
        admitted, refused = (
            asyncio.run(
                _cpu_per_request(
                    _served(sampling, refusing=refusing),
                    arguments.requests,
                    429 if refusing else 201,
                )
            )
            for refusing in (False, True)
        )
        print(f"  {label:<8} {admitted * 1e6:6.0f} µs {refused * 1e6:6.0f} µs")


if __name__ == "__main__":
    main()
