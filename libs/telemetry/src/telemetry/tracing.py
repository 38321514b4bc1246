"""Tracing of one deployable: built once by its composition root, passed to what traces.

Configured by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or
``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT``/``..._TRACES_ENDPOINT`` (OTLP over HTTP/protobuf),
``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``. One deliberate
difference: with ``OTEL_TRACES_EXPORTER`` unset tracing is off (the SDK's default is OTLP),
so a process started without configuration never retries an exporter nobody listens to.

Off, no SDK is built: ``span`` hands back the incoming traceparent untouched (the wire
contract still gets one on every record) and costs one generator step; hot paths check
``enabled`` first and skip even that.

Context crosses Kafka, EventBridge and SQS as the W3C ``traceparent`` string the records
already carry (the CloudEvents distributed-tracing extension), so the helpers here speak
traceparent strings rather than OpenTelemetry contexts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace

# The key `opentelemetry.instrumentation.utils.suppress_instrumentation` sets; set here to False
# as well, so a sampled span inside an unsampled one is instrumented again.
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

logger = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
# The W3C header's name, as records, EventBridge details and SQS bodies carry it.
TRACEPARENT = "traceparent"
Attributes = Mapping[str, AttributeValue]


def format_traceparent(context: SpanContext) -> str | None:
    """``00-<trace id>-<span id>-<flags>`` for a valid context, else None."""
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def new_traceparent() -> str:
    """A fresh, unsampled traceparent: what a record gets when tracing is off, so that every
    record still carries one (CONTRACT.md section 4) and a downstream tracer can join it."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The remote span context a traceparent names; None if absent or malformed."""
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def exemplar() -> dict[str, str] | None:
    """The current sampled span's trace id, as a Prometheus exemplar's labels: a latency
    bucket then points at a trace that shows where the time went."""
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return {"trace_id": f"{context.trace_id:032x}"}


@contextmanager
def instrumented(enabled: bool) -> Iterator[None]:
    """The maintained instrumentations (asyncpg, botocore) work inside the block or not."""
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, not enabled))
    try:
        yield
    finally:
        otel_context.detach(token)


def instrumentation_follows(span: trace.Span) -> contextlib.AbstractContextManager[None]:
    """The maintained instrumentations work only under a span that records.

    Under an unsampled span their spans are dropped anyway (children follow their parent's
    decision), but each still costs its wrapper, its attributes and a span's bookkeeping: an
    asyncpg query's span is ~20 us, a dozen queries per booking in each service. With a 10 %
    sampler that was paid for the 90 % nobody sees (README, Tracing cost)."""
    return instrumented(span.is_recording())


def quiet_outside_spans() -> None:
    """From now on this thread, and the tasks and threads it starts, instrument nothing
    outside a span (``instrumented`` turns it back on where a span or a request wants it).
    Never undone: it is the process's base context."""
    otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


@dataclass(frozen=True, slots=True)
class Tracing:
    """A deployable's tracer, or none (tracing off)."""

    provider: TracerProvider | None = None
    tracer: trace.Tracer | None = None

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def current_traceparent(self) -> str | None:
        """The traceparent of the span now current (a request's server span), or None."""
        if self.tracer is None:
            return None
        return format_traceparent(trace.get_current_span().get_span_context())

    def traceparent_for_new_work(self) -> str:
        """What a record started by this request carries: the current span, or a fresh id."""
        return self.current_traceparent() or new_traceparent()

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        links: Sequence[str | None] = (),
    ) -> Iterator[str | None]:
        """A span, child of ``parent`` (a traceparent from the wire) or else of the current
        span, linked to ``links`` (the parents a batch serves); made current while the block
        runs. Yields the traceparent the work inside hands on: the new span's, or, with
        tracing off, ``parent`` unchanged."""
        if self.tracer is None:
            yield parent
            return
        remote = span_context_of(parent)
        context = trace.set_span_in_context(trace.NonRecordingSpan(remote)) if remote else None
        linked = [Link(c) for c in map(span_context_of, links) if c is not None]
        with (
            self.tracer.start_as_current_span(
                name, context=context, kind=kind, attributes=attributes, links=linked
            ) as span,
            instrumentation_follows(span),
        ):
            yield format_traceparent(span.get_span_context()) or parent

    def set_attributes(self, attributes: Attributes) -> None:
        """Add attributes to the current span (a no-op with tracing off)."""
        if self.tracer is not None:
            trace.get_current_span().set_attributes(attributes)

    def flush(self, timeout_millis: int = 5_000) -> None:
        """Export what is buffered: a Lambda calls it before its invocation returns."""
        if self.provider is not None:
            self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def configure_tracing(
    service_name: str,
    *,
    environ: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
) -> Tracing:
    """The deployable's tracing from the ``OTEL_*`` variables; ``exporter`` (tests) wins over
    them and exports each span as it ends."""
    env = os.environ if environ is None else environ
    if exporter is None:
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return Tracing()
        exporter = _exporter(env.get("OTEL_TRACES_EXPORTER", "none").strip().lower())
        if exporter is None:
            return Tracing()
        processor: BatchSpanProcessor | SimpleSpanProcessor = BatchSpanProcessor(exporter)
    else:
        processor = SimpleSpanProcessor(exporter)
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES on top of this;
    # TracerProvider reads OTEL_TRACES_SAMPLER(_ARG) itself (default: parent-based, always on).
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(processor)
    logger.info("tracing on", extra={"service": service_name})
    return Tracing(provider, provider.get_tracer("careplan"))


def _exporter(name: str) -> SpanExporter | None:
    if name in ("", "none"):
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        logger.warning("unknown OTEL_TRACES_EXPORTER, tracing off", extra={"exporter": name})
        return None
    # HTTP/protobuf only: one small dependency, no gRPC runtime in the Lambda packages.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
