"""Tracing of one deployable: built once by its composition root, passed to what traces.

Configured by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or
``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT``/``..._TRACES_ENDPOINT`` (OTLP over HTTP/protobuf),
``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``,
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (``asyncpg``, ``botocore``). One deliberate
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
import random
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

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
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

logger = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
# len("00-<32 hex>-<16 hex>-<2 hex>"): a traceparent without a version's later fields.
_PLAIN_LENGTH = 55
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
    if len(traceparent) == _PLAIN_LENGTH and traceparent.startswith("00-"):
        # The form every record of this platform carries, read without the propagator's
        # regular expression: a batch reads one per record.
        try:
            trace_id, span_id = int(traceparent[3:35], 16), int(traceparent[36:52], 16)
            flags = int(traceparent[53:55], 16)
        except ValueError:
            return None
        if trace_id and span_id and traceparent[35] == traceparent[52] == "-":
            return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
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
    sampler that was paid for the 90 % nobody sees (README, What tracing costs)."""
    return instrumented(span.is_recording())


def instrumentation_records() -> bool:
    """Whether a maintained instrumentation called here would record: it is not suppressed
    and the current span records (``instrumented``, ``instrumentation_follows``)."""
    if otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return False
    return trace.get_current_span().is_recording()


def quiet_outside_spans() -> None:
    """From now on this thread, and the tasks and threads it starts, instrument nothing
    outside a span (``instrumented`` turns it back on where a span or a request wants it).
    Never undone: it is the process's base context."""
    otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


class _UnsampledSpan:
    """What the SDK makes of a span under an unsampled parent with a parent-based sampler (a
    non-recording span with an id of its own, current while the block runs, the
    instrumentations quiet inside: the maintained ones' HTTP middleware included), without
    the SDK's sampler call, span object and attributes. A class rather than a generator
    context manager: the 90 % of the records and requests nobody sees at a 10 % sampling go
    through it, and contextlib's machinery was a third of its calls."""

    __slots__ = ("_context", "_token", "traceparent")

    def __init__(
        self, trace_id: int, flags: TraceFlags, state: trace.TraceState | None = None
    ) -> None:
        span_id = random.getrandbits(64) or 1
        child = SpanContext(
            trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=state
        )
        quiet = otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)
        self._context = trace.set_span_in_context(NonRecordingSpan(child), quiet)
        self.traceparent: str | None = f"00-{trace_id:032x}-{span_id:016x}-{int(flags):02x}"

    def __enter__(self) -> str | None:
        self._token = otel_context.attach(self._context)
        return self.traceparent

    def __exit__(self, *_: object) -> None:
        otel_context.detach(self._token)


def _unsampled_child(parent: SpanContext) -> _UnsampledSpan:
    """An unsampled span under an unsampled remote ``parent`` (~9 us, not the SDK's ~35)."""
    return _UnsampledSpan(parent.trace_id, parent.trace_flags, parent.trace_state)


def unsampled_child_traceparent(parent: str | None) -> str | None:
    """A new traceparent of ``parent``'s trace for a span that would not record and holds no
    work (a published or consumed record's span, ended at once): a new span id, made from the
    string alone. None when ``parent`` is sampled, absent or not in the plain form: then a
    span must decide. Only for a sampler that drops the children of unsampled parents
    (``Tracing.span_ended_at_once``)."""
    if (
        parent is None
        or len(parent) != _PLAIN_LENGTH
        or not parent.startswith("00-")
        or parent[54] not in _UNSAMPLED_LAST_FLAG_DIGITS
        or parent[35] != "-"
        or parent[52] != "-"
        or parent[3:35] == _INVALID_TRACE_ID
    ):
        return None
    return f"{parent[:36]}{random.getrandbits(64) or 1:016x}{parent[52:]}"


# The flags' last hex digit when the sampled bit (0x01) is clear; a lowercase traceparent, as
# W3C prescribes and as format_traceparent writes.
_UNSAMPLED_LAST_FLAG_DIGITS = frozenset("02468ace")
_INVALID_TRACE_ID = "0" * 32
# Statements that only delimit a transaction: what happened is in the statements between them.
TRANSACTION_CONTROL = frozenset({"BEGIN", "BEGIN;", "COMMIT", "COMMIT;", "ROLLBACK", "ROLLBACK;"})


class WithoutTransactionControl(Sampler):
    """``delegate``, but a database client span of BEGIN, COMMIT or ROLLBACK is never
    recorded (the asyncpg instrumentation names a statement's span by its first word, and
    hands it to the sampler before making it, for such filtering).

    A sampled booking's trace held ~34 statement spans of 41, each transaction's BEGIN and
    COMMIT among them; each recorded span costs tens of microseconds to make and as many to
    encode as OTLP (README, What tracing costs). Dropped, such a span is a non-recording one."""

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes | None = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and name in TRANSACTION_CONTROL:
            parent = trace.get_current_span(parent_context).get_span_context()
            return SamplingResult(Decision.DROP, None, parent.trace_state)
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithoutTransactionControl{{{self.delegate.get_description()}}}"


class _EdgeTraceIds(RandomIdGenerator):
    """The SDK's random ids, but for one trace id a request's edge chose first
    (``Tracing.request_sampled``): the edge asked the sampler about that id, so the server
    span the instrumentation starts next must carry it for the SDK to decide the same."""

    def __init__(self) -> None:
        self._chosen: ContextVar[int | None] = ContextVar("edge_trace_id", default=None)

    def generate_trace_id(self) -> int:
        chosen = self._chosen.get()
        if chosen is None:
            return super().generate_trace_id()
        self._chosen.set(None)  # one root span per request: the next one draws its own
        return chosen

    @contextmanager
    def chosen(self, trace_id: int) -> Iterator[None]:
        token = self._chosen.set(trace_id)
        try:
            yield
        finally:
            self._chosen.reset(token)


def drops_unsampled_children(sampler: Sampler) -> bool:
    """Whether ``sampler`` drops every span whose remote parent is unsampled: the
    parent-based samplers as the ``OTEL_TRACES_SAMPLER`` variable builds them."""
    if isinstance(sampler, WithoutTransactionControl):
        sampler = sampler.delegate
    if not isinstance(sampler, ParentBased):
        return False
    parent = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(1, 1, is_remote=True, trace_flags=TraceFlags(0)))
    )
    return sampler.should_sample(parent, 1, "probe").decision is Decision.DROP


@dataclass(frozen=True, slots=True)
class Tracing:
    """A deployable's tracer, or none (tracing off)."""

    provider: TracerProvider | None = None
    tracer: trace.Tracer | None = None
    # The sampler drops every child of an unsampled remote parent (the parent-based samplers,
    # the default): such a child is then made without the SDK (``span``).
    drops_unsampled_children: bool = False
    # The provider's id generator: a request's edge hands it the trace id it sampled.
    edge_ids: _EdgeTraceIds = field(default_factory=_EdgeTraceIds)
    # The instrumentations named in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS.
    disabled_instrumentations: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def instruments(self, name: str) -> bool:
        """Whether the maintained instrumentation ``name`` (``asyncpg``, ``botocore``) is on:
        with tracing on, unless ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names it."""
        return self.provider is not None and name not in self.disabled_instrumentations

    def current_traceparent(self) -> str | None:
        """The traceparent of the span now current (a request's server span), or None."""
        if self.tracer is None:
            return None
        return format_traceparent(trace.get_current_span().get_span_context())

    def traceparent_for_new_work(self) -> str:
        """What a record started by this request carries: the current span, or a fresh id."""
        return self.current_traceparent() or new_traceparent()

    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        links: Sequence[str | None] = (),
    ) -> contextlib.AbstractContextManager[str | None]:
        """A span, child of ``parent`` (a traceparent from the wire) or else of the current
        span, linked to ``links`` (the parents a batch serves); made current while the block
        runs. Yields the traceparent the work inside hands on: the new span's, or, with
        tracing off, ``parent`` unchanged."""
        if self.tracer is None:
            return contextlib.nullcontext(parent)
        remote = span_context_of(parent)
        if remote is not None and not remote.trace_flags.sampled and self.drops_unsampled_children:
            return _unsampled_child(remote)
        if remote is None and not trace.get_current_span().get_span_context().is_valid:
            return self._root(name, kind, attributes, links)
        return self._recorded_span(name, remote, kind, attributes, links, parent)

    def _root(
        self,
        name: str,
        kind: SpanKind,
        attributes: Attributes | None,
        links: Sequence[str | None],
    ) -> contextlib.AbstractContextManager[str | None]:
        """A span that starts a trace (a consumed batch's, a relay batch's), decided here as
        a request's edge decides (``request_sampled``): a dropped one is an ``_UnsampledSpan``,
        without the SDK's span, context manager and instrumentation switch (~1 per booking in
        each service, nine in ten dropped at 10 %); a kept one is the SDK's, under the trace
        id the sampler was asked about."""
        trace_id, sampled = self._root_sampled(name, kind, attributes)
        if sampled:
            return self._recorded_span(name, None, kind, attributes, links, None, trace_id)
        return _UnsampledSpan(trace_id, TraceFlags(TraceFlags.DEFAULT))

    def _root_sampled(
        self, name: str, kind: SpanKind, attributes: Attributes | None = None
    ) -> tuple[int, bool]:
        """A new trace id and whether the sampler keeps a root span of it: a kept one must be
        made under that very id (``_EdgeTraceIds.chosen``) for the SDK to decide the same."""
        assert self.provider is not None
        trace_id = self.edge_ids.generate_trace_id()
        decision = self.provider.sampler.should_sample(
            otel_context.Context(), trace_id, name, kind, attributes
        ).decision
        return trace_id, decision is Decision.RECORD_AND_SAMPLE

    def span_ended_at_once(
        self,
        name: str,
        *,
        parent: str | None,
        kind: SpanKind,
        attributes: Callable[[], Attributes],
        links: Sequence[str | None] = (),
    ) -> str | None:
        """The traceparent a span that holds no work hands on (a published or consumed
        record's), the span made and ended at once. Under an unsampled parent, most records at
        a 10 % sampling, it is only a new id of that trace (``unsampled_child_traceparent``):
        no SDK, no context, and ``attributes`` is not called."""
        if self.tracer is None:
            return parent
        if self.drops_unsampled_children:
            child = unsampled_child_traceparent(parent)
            if child is not None:
                return child
        with self.span(
            name, parent=parent, kind=kind, attributes=attributes(), links=links
        ) as traceparent:
            return traceparent

    @contextmanager
    def _recorded_span(
        self,
        name: str,
        remote: SpanContext | None,
        kind: SpanKind,
        attributes: Attributes | None,
        links: Sequence[str | None],
        parent: str | None,
        root_trace_id: int | None = None,
    ) -> Iterator[str | None]:
        """The SDK's span; a root one (``root_trace_id``) under the trace id already decided."""
        assert self.tracer is not None
        context = trace.set_span_in_context(trace.NonRecordingSpan(remote)) if remote else None
        chosen = (
            contextlib.nullcontext()
            if root_trace_id is None
            else self.edge_ids.chosen(root_trace_id)
        )
        with (
            chosen,
            self.tracer.start_as_current_span(
                name, context=context, kind=kind, attributes=attributes
            ) as span,
            instrumentation_follows(span),
        ):
            if links and span.is_recording():
                # Read only for a span that records: a batch's span links every record it
                # serves, and nine in ten batches are dropped at a 10 % sampling.
                for linked in map(span_context_of, links):
                    if linked is not None:
                        span.add_link(linked)
            yield format_traceparent(span.get_span_context()) or parent

    @contextmanager
    def request_sampled(self, traceparent: str | None) -> Iterator[bool]:
        """A request's sampling, decided at its edge before any instrumentation sees it.

        True: the instrumentation's server span records, and is the very trace the sampler
        was asked about (a root gets the trace id decided on here). False: an unsampled span
        is current, so what the request writes carries an unsampled traceparent, and nothing
        inside is instrumented: the FastAPI middleware passes the request through instead of
        building its attributes, route name and span for the nine requests in ten a 10 %
        sampler drops (~5 % of Care Plan's event loop at 100 bookings/s)."""
        if self.provider is None:
            yield False
            return
        remote = span_context_of(traceparent)
        if remote is not None:
            if remote.trace_flags.sampled or not self.drops_unsampled_children:
                yield True  # the SDK decides under that parent, as the middleware asks it
                return
            with _unsampled_child(remote):
                yield False
            return
        trace_id, sampled = self._root_sampled("HTTP", SpanKind.SERVER)
        if sampled:
            with self.edge_ids.chosen(trace_id):
                yield True
            return
        with _UnsampledSpan(trace_id, TraceFlags(TraceFlags.DEFAULT)):
            yield False

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
    # without a sampler TracerProvider reads OTEL_TRACES_SAMPLER(_ARG) from the process's
    # environment itself (default: parent-based, always on).
    edge_ids = _EdgeTraceIds()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=None if environ is None else _sampler(environ),
        id_generator=edge_ids,
    )
    # Wrapped before any tracer is made (each takes the provider's sampler when made), so that
    # the SDK's own reading of the variables, entry-point samplers included, stays the delegate.
    provider.sampler = WithoutTransactionControl(provider.sampler)
    provider.add_span_processor(processor)
    logger.info("tracing on", extra={"service": service_name})
    return Tracing(
        provider,
        provider.get_tracer("careplan"),
        drops_unsampled_children(provider.sampler),
        edge_ids,
        _disabled_instrumentations(env),
    )


def _disabled_instrumentations(env: Mapping[str, str]) -> frozenset[str]:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` as ``opentelemetry-instrument`` reads it: names
    separated by commas, spaces around them allowed."""
    names = env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
    return frozenset(name.strip().lower() for name in names if name.strip())


def _sampler(env: Mapping[str, str]) -> Sampler:
    """The sampler the standard variables name, read from ``env`` rather than the process's
    environment (which is all the SDK reads: a benchmark's "10 %" sampled everything)."""
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    fixed = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
    }
    if name in fixed:
        return fixed[name]
    try:
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        ratio = 1.0
    if name == "traceidratio":
        return TraceIdRatioBased(ratio)
    if name != "parentbased_traceidratio":
        logger.warning("unknown OTEL_TRACES_SAMPLER, sampling everything", extra={"sampler": name})
        return ParentBased(ALWAYS_ON)
    return ParentBasedTraceIdRatio(ratio)


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
