"""The maintained OpenTelemetry instrumentations, switched on only with tracing on.

Each is imported when used: a deployable installs only the extras it needs
(``telemetry[fastapi]``, ``telemetry[asyncpg]``, ``telemetry[botocore]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from telemetry.tracing import Tracing, instrumentation_follows, instrumented, quiet_outside_spans

# Probes and scrapes are not what anyone traces a booking for.
_UNTRACED_URLS = "health/.*,metrics"


def instrument_fastapi(
    app: Any, tracing: Tracing, *, untraced: Callable[[Any], bool] | None = None
) -> Any:
    """Server spans for every request; the context arriving in ``traceparent`` is continued.
    Serve what it returns: with tracing on, the app inside a wrapper that instruments every
    request even where ``instrument_only_inside_spans`` quiets the process (the ASGI
    middleware makes no server span under it).

    :param untraced: requests (by ASGI scope) that get no span at all: the writes admission
        control refuses. The instrumentation's middleware costs ~140 us a request (measured on
        a bare FastAPI app: 90 us without, 230 with); under a 5x overload four requests in
        five are refused, and with a span each the refusals took CPU from the bookings that
        were admitted (README, Tracing cost)."""
    if tracing.provider is None:
        return app
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # Inside the server span: what the request does is instrumented only if it is sampled.
    app.add_middleware(_InstrumentIfSampled)
    # Without exclude_spans every ASGI receive and send is a span of its own (three more per
    # request) that tells nothing the server span does not.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider,
        excluded_urls=_UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )
    return _RequestsInstrumented(app, untraced or _never)


def instrument_asyncpg(tracing: Tracing) -> None:
    """A span per asyncpg query, as a child of whatever span is current."""
    if tracing.provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().instrument(tracer_provider=tracing.provider)  # type: ignore[no-untyped-call]


def instrument_only_inside_spans(tracing: Tracing) -> None:
    """Outside every span the instrumentations stay quiet, for the rest of this thread and the
    tasks and threads it starts: call it once, before the event loop starts.

    Without it every query or AWS call made outside a span was a trace of its own: the relay's
    polling and marking, the admission probe five times a second, the expiry sweeper, each a
    one-span trace that nobody looks for; at 10 % sampling the exporter spent more on them
    than on the bookings' traces. Inside a span ``instrumentation_follows`` decides."""
    if tracing.provider is not None:
        quiet_outside_spans()


def instrument_botocore(tracing: Tracing) -> None:
    """A span per AWS call (EventBridge, SQS, DynamoDB, SES)."""
    if tracing.provider is None:
        return
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument(tracer_provider=tracing.provider)  # type: ignore[no-untyped-call]


class _InstrumentIfSampled:
    """ASGI middleware: the request's work is instrumented (asyncpg's query spans) only when
    the server span around it records (``instrumentation_follows``)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with instrumentation_follows(trace.get_current_span()):
            await self._app(scope, receive, send)


class _RequestsInstrumented:
    """ASGI wrapper outside everything: a request is instrumented whatever the process's base
    context says; the lifespan (which starts the background workers) keeps it."""

    def __init__(self, app: Any, untraced: Callable[[Any], bool]) -> None:
        self._app = app
        self._untraced = untraced

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        with instrumented(not self._untraced(scope)):
            await self._app(scope, receive, send)


def _never(_: Any) -> bool:
    return False
