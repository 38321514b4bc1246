"""The maintained OpenTelemetry instrumentations, switched on only with tracing on.

Each is imported when used: a deployable installs only the extras it needs
(``telemetry[fastapi]``, ``telemetry[asyncpg]``, ``telemetry[botocore]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telemetry.tracing import Tracing, instrumented, quiet_outside_spans

# Probes and scrapes are not what anyone traces a booking for.
_UNTRACED_URLS = "health/.*,metrics"
_UNTRACED_PATHS = ("/health/", "/metrics")


def instrument_fastapi(
    app: Any, tracing: Tracing, *, untraced: Callable[[Any], bool] | None = None
) -> Any:
    """Server spans for the requests the sampler keeps; the context arriving in
    ``traceparent`` is continued. Serve what it returns: with tracing on, the app inside an
    edge that decides each request's sampling first (``Tracing.request_sampled``) and hands
    the instrumentation only the requests it samples, instrumented even where
    ``instrument_only_inside_spans`` quiets the process. Not one that
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` turns off: the server span is where a booking's
    trace starts.

    :param untraced: requests (by ASGI scope) that get no span at all: the writes admission
        control refuses. The instrumentation's middleware costs ~140 us a request (measured on
        a bare FastAPI app: 90 us without, 230 with); under a 5x overload four requests in
        five are refused, and with a span each the refusals took CPU from the bookings that
        were admitted (README, What tracing costs)."""
    if tracing.provider is None:
        return app
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # Without exclude_spans every ASGI receive and send is a span of its own (three more per
    # request) that tells nothing the server span does not.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider,
        excluded_urls=_UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )
    return _SampledAtTheEdge(app, tracing, untraced or _never)


def instrument_asyncpg(tracing: Tracing) -> None:
    """A span per asyncpg query, as a child of whatever span is current; none with
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=asyncpg``. Most of a booking's trace is statements
    (about five spans in six), and every query pays the wrapper, sampled or not: turned off, a
    trace keeps its server, consumer and publish spans (README, What tracing costs)."""
    if not tracing.instruments("asyncpg"):
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
    """A span per AWS call (EventBridge, SQS, DynamoDB, SES); none with
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore``."""
    if not tracing.instruments("botocore"):
        return
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument(tracer_provider=tracing.provider)  # type: ignore[no-untyped-call]


class _SampledAtTheEdge:
    """ASGI wrapper outside everything: decides whether a request is sampled before the
    instrumentation's middleware sees it; a sampled one is instrumented whatever the
    process's base context says. The lifespan (which starts the background workers) keeps
    that context."""

    def __init__(self, app: Any, tracing: Tracing, untraced: Callable[[Any], bool]) -> None:
        self._app = app
        self._tracing = tracing
        self._untraced = untraced

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if _probe_or_scrape(scope) or self._untraced(scope):
            with instrumented(False):
                await self._app(scope, receive, send)
            return
        with self._tracing.request_sampled(_traceparent(scope)) as sampled:
            if not sampled:
                await self._app(scope, receive, send)
                return
            with instrumented(True):
                await self._app(scope, receive, send)


def _probe_or_scrape(scope: Any) -> bool:
    return str(scope["path"]).startswith(_UNTRACED_PATHS)


def _traceparent(scope: Any) -> str | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return str(value.decode("latin-1"))
    return None


def _never(_: Any) -> bool:
    return False
