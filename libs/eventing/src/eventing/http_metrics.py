"""Prometheus request metrics of the HTTP services, labelled by route template (never the raw
path: ids would make the label set unbounded). Requests refused by the key check never reach
routing: they are labelled ``unauthenticated``."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry import exemplar

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        # The labelled children, looked up once each: labels() takes a lock and checks its
        # values on every call, twice a request (under overload, mostly 429s).
        self._counters: dict[tuple[str, str, str], Counter] = {}
        self._latencies: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, observe)
        finally:
            template = getattr(scope.get("route"), "path", None)
            if template is None:
                template = "unauthenticated" if status == 401 else "unmatched"
            key = (scope["method"], template, str(status))
            if (counter := self._counters.get(key)) is None:
                counter = self._counters[key] = REQUESTS.labels(*key)
            counter.inc()
            if (latency := self._latencies.get(key[:2])) is None:
                latency = self._latencies[key[:2]] = LATENCY.labels(*key[:2])
            # Inside the tracing middleware: the request's span, if sampled, is the exemplar.
            latency.observe(time.perf_counter() - started, exemplar())
