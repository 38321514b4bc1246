"""telemetry.tracing: off costs nothing and hands the traceparent on; on, spans continue the
trace they are given and link the parents a batch serves."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetry import Tracing, configure_tracing, new_traceparent
from telemetry.connector import traceparent_in_body, traceparent_in_event
from telemetry.instrument import (
    instrument_asyncpg,
    instrument_fastapi,
    instrument_only_inside_spans,
)
from telemetry.tracing import (
    format_traceparent,
    instrumentation_records,
    instrumented,
    span_context_of,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-1bf7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
W3C = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def test_without_an_exporter_tracing_is_off_and_hands_the_parent_on() -> None:
    tracing = configure_tracing("svc", environ={})
    assert not tracing.enabled
    with tracing.span("work", parent=PARENT) as traceparent:
        assert traceparent == PARENT
    assert W3C.match(tracing.traceparent_for_new_work())


def test_otel_sdk_disabled_wins_over_a_named_exporter() -> None:
    tracing = configure_tracing(
        "svc", environ={"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing.enabled


@pytest.mark.parametrize(
    ("variables", "description"),
    [
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
         "ParentBased{root:TraceIdRatioBased{0.1}"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
         "TraceIdRatioBased{0.25}"),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, "AlwaysOffSampler"),
        ({}, "ParentBased{root:AlwaysOnSampler"),
    ],
)  # fmt: skip
def test_the_sampler_is_read_from_the_variables_given(
    variables: dict[str, str], description: str
) -> None:
    """Given its variables (a benchmark's, a test's), not the process's: the SDK reads only
    the process's, and a benchmark's "10 %" had sampled everything."""
    tracing = configure_tracing("svc", environ=variables, exporter=InMemorySpanExporter())
    assert tracing.provider is not None
    sampler = tracing.provider.sampler.get_description()
    assert sampler.startswith("WithoutTransactionControl{" + description)


def test_a_span_continues_the_trace_of_its_parent_and_hands_on_its_own_id() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    with tracing.span("process", parent=PARENT, attributes={"k": "v"}) as traceparent:
        assert traceparent is not None
    [span] = exporter.get_finished_spans()
    assert span.context.trace_id == int(PARENT[3:35], 16)
    assert span.parent is not None
    assert span.parent.span_id == int(PARENT[36:52], 16)
    assert traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"
    assert span.resource.attributes["service.name"] == "svc"


def test_a_batch_span_links_every_parent_it_serves() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    with tracing.span("batch", links=[PARENT, None, "garbage", OTHER]):
        pass
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert [link.context.trace_id for link in span.links] == [
        int(PARENT[3:35], 16),
        int(OTHER[3:35], 16),
    ]


def test_a_child_of_an_unsampled_parent_is_current_quiet_and_never_exported() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)  # parent-based, the default
    assert tracing.drops_unsampled_children
    unsampled = PARENT[:-2] + "00"
    with tracing.span("process", parent=unsampled, links=[OTHER]) as traceparent:
        assert traceparent is not None
        assert traceparent[:36] == unsampled[:36]  # the same trace
        assert traceparent[36:52] != unsampled[36:52]  # a span id of its own
        assert traceparent.endswith("-00")
        assert tracing.current_traceparent() == traceparent
        assert not is_instrumentation_enabled()
        with tracing.span("inside") as inner:
            assert inner is not None
            assert inner[:36] == unsampled[:36]
            assert inner.endswith("-00")
    assert exporter.get_finished_spans() == ()
    assert trace.get_current_span() is trace.INVALID_SPAN


class _Attributes:
    """A record span's attributes, counting how often they were asked for."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self) -> dict[str, str]:
        self.asked += 1
        return {"messaging.system": "kafka"}


def _record_span(tracing: Tracing, parent: str | None, attributes: _Attributes) -> str | None:
    return tracing.span_ended_at_once(
        "publish", parent=parent, kind=trace.SpanKind.PRODUCER, attributes=attributes
    )


def test_a_record_span_under_an_unsampled_parent_is_a_new_id_of_its_trace_without_a_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    unsampled = PARENT[:-2] + "00"
    attributes = _Attributes()

    child = _record_span(tracing, unsampled, attributes)

    assert child is not None
    assert W3C.match(child)
    assert child[:36] == unsampled[:36]  # the same trace
    assert child[36:52] != unsampled[36:52]  # a span id of its own
    assert child.endswith("-00")
    assert child != _record_span(tracing, unsampled, attributes)
    assert attributes.asked == 0
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    "parent",
    [
        PARENT,  # sampled
        None,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "00-00000000000000000000000000000000-b7ad6b7169203331-00",
        "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-00",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
    ],
)
def test_any_other_parent_gets_a_record_span_the_sampler_decides(parent: str | None) -> None:
    """Sampled, absent or malformed: the span is made (here the sampler keeps a root and
    the child of a sampled parent), with its attributes."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    attributes = _Attributes()

    handed_on = _record_span(tracing, parent, attributes)

    [span] = exporter.get_finished_spans()
    assert handed_on == format_traceparent(span.context)
    assert attributes.asked == 1
    assert dict(span.attributes or {}) == {"messaging.system": "kafka"}


def test_with_tracing_off_the_parent_is_handed_on_and_with_a_sampler_that_ignores_parents_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unsampled = PARENT[:-2] + "00"
    attributes = _Attributes()
    assert _record_span(Tracing(), unsampled, attributes) == unsampled
    assert attributes.asked == 0
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    exporter = InMemorySpanExporter()
    _record_span(configure_tracing("svc", exporter=exporter), unsampled, attributes)
    [span] = exporter.get_finished_spans()
    assert span.context.trace_id == int(unsampled[3:35], 16)
    assert attributes.asked == 1


def test_a_transactions_begin_and_commit_are_not_recorded_its_statements_are() -> None:
    """asyncpg's instrumentation names a statement's client span by its first word."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    assert tracing.provider is not None
    statements = tracing.provider.get_tracer("asyncpg")
    with tracing.span("process", parent=PARENT):
        for statement in ("BEGIN;", "SELECT", "INSERT", "COMMIT;", "BEGIN", "ROLLBACK;"):
            with statements.start_as_current_span(statement, kind=trace.SpanKind.CLIENT) as span:
                assert span.get_span_context().trace_id == int(PARENT[3:35], 16)
        statements.start_span("COMMIT;", kind=trace.SpanKind.INTERNAL).end()
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["SELECT", "INSERT", "COMMIT;", "process"], "an internal COMMIT; is kept"


def test_a_sampler_that_ignores_parents_records_the_child_of_an_unsampled_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    assert not tracing.drops_unsampled_children
    with tracing.span("process", parent=PARENT[:-2] + "00"):
        pass
    [span] = exporter.get_finished_spans()
    assert span.parent is not None
    assert span.parent.span_id == int(PARENT[36:52], 16)


def test_a_batch_span_that_is_dropped_reads_none_of_its_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    read: list[str] = []

    class Links(list[str]):
        def __iter__(self) -> Any:
            read.append("iterated")
            return super().__iter__()

    with tracing.span("batch", links=Links([PARENT, OTHER])):
        pass
    assert read == []


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # no trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # no span id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333x-01",  # not hex
        "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",  # not the separator
        "",
        None,
    ],
)
def test_a_malformed_traceparent_names_no_parent(traceparent: str | None) -> None:
    assert span_context_of(traceparent) is None


def test_a_well_formed_traceparent_names_its_parent_with_its_flags() -> None:
    context = span_context_of(PARENT[:-2] + "00")
    assert context is not None
    assert context.is_remote
    assert (context.trace_id, context.span_id) == (int(PARENT[3:35], 16), int(PARENT[36:52], 16))
    assert not context.trace_flags.sampled
    # A later version's extra fields go through the propagator's reading.
    later = span_context_of("cc" + PARENT[2:] + "-what-comes-next")
    assert later is not None
    assert later.trace_id == int(PARENT[3:35], 16)


def test_new_work_inside_a_span_carries_that_span() -> None:
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    with tracing.span("POST") as traceparent:
        assert tracing.traceparent_for_new_work() == traceparent


def test_a_fresh_traceparent_is_unsampled_and_well_formed() -> None:
    assert W3C.match(new_traceparent())
    assert new_traceparent().endswith("-00")


def test_the_traceparent_travels_in_the_connector_shaped_detail() -> None:
    event = {"detail": {"headers": [{"ce_id": "1"}, {"traceparent": PARENT}], "value": {}}}
    assert traceparent_in_event(event) == PARENT
    assert traceparent_in_body('{"detail": {"headers": []}}') is None
    assert traceparent_in_body("not json") is None


def test_headers_an_input_transformer_rendered_as_json_text_still_carry_it() -> None:
    rendered = json.dumps({"traceparent": PARENT})
    event = {"detail": {"headers": ['{"ce_id": "1"}', rendered, "x"]}}
    assert traceparent_in_event(event) == PARENT


def test_instrumentations_work_only_under_a_span_that_records() -> None:
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    unsampled = PARENT[:-2] + "00"  # children follow their parent's decision: not recorded
    with tracing.span("unsampled", parent=unsampled):
        assert not is_instrumentation_enabled(), "an asyncpg span here would be dropped anyway"
        with tracing.span("sampled inside", parent=OTHER):
            assert is_instrumentation_enabled()
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()


def test_an_instrumentation_records_only_under_a_recording_span_it_may_work_in() -> None:
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    assert not instrumentation_records()  # no span
    with tracing.span("sampled", parent=PARENT):
        assert instrumentation_records()
        with instrumented(False):
            assert not instrumentation_records()
    with tracing.span("unsampled", parent=PARENT[:-2] + "00"):
        assert not instrumentation_records()


def _served_probe(tracing: Tracing) -> Any:
    app = FastAPI()

    @app.get("/probe")
    def probe() -> dict[str, bool]:
        return {"instrumented": is_instrumentation_enabled()}

    return instrument_fastapi(app, tracing)


def test_a_request_is_instrumented_only_when_its_server_span_records() -> None:
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    with TestClient(_served_probe(tracing)) as client:
        sampled = client.get("/probe", headers={"traceparent": PARENT}).json()
        unsampled = client.get("/probe", headers={"traceparent": PARENT[:-2] + "00"}).json()
    assert (sampled["instrumented"], unsampled["instrumented"]) == (True, False)


def _served_traceparent_probe(tracing: Tracing) -> Any:
    app = FastAPI()

    @app.get("/probe")
    def probe() -> dict[str, Any]:
        return {
            "traceparent": tracing.traceparent_for_new_work(),
            "instrumented": is_instrumentation_enabled(),
        }

    return instrument_fastapi(app, tracing)


def test_the_edge_and_the_sdk_sample_the_same_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The edge decides a root request's sampling before the instrumentation's middleware
    sees it: a request it keeps must get its server span under the very trace id it asked
    about (else a 50 % sampler would keep a quarter), one it drops none at all, and either
    way what the request writes carries the trace the decision was about."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    with TestClient(_served_traceparent_probe(tracing)) as client:
        seen = [client.get("/probe").json() for _ in range(200)]
    written = [span_context_of(answer["traceparent"]) for answer in seen]
    assert all(context is not None for context in written)
    sampled = {c.trace_id for c in written if c is not None and c.trace_flags.sampled}
    exported = {span.context.trace_id for span in exporter.get_finished_spans()}
    assert exported == sampled
    assert 60 < len(sampled) < 140, "about half, as the sampler was asked"
    assert [answer["instrumented"] for answer in seen] == [
        context is not None and context.trace_flags.sampled for context in written
    ]
    assert len({c.trace_id for c in written if c is not None}) == 200, "a trace each"


def test_a_root_span_the_sampler_drops_is_current_quiet_and_never_exported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off")
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    with tracing.span("process batch") as traceparent:
        assert traceparent is not None
        assert W3C.match(traceparent)
        assert traceparent.endswith("-00")
        assert tracing.current_traceparent() == traceparent
        assert not is_instrumentation_enabled()
        with tracing.span("inside") as inner:
            assert inner is not None
            assert inner[:36] == traceparent[:36]
    assert exporter.get_finished_spans() == ()
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_root_spans_kept_are_those_the_sampler_was_asked_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A root is decided before the SDK makes it: a kept one must carry the very trace id
    the sampler was asked about (else a 50 % sampler would keep a quarter)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    handed_on = []
    for _ in range(200):
        with tracing.span("process batch") as traceparent:
            handed_on.append(span_context_of(traceparent))
            assert is_instrumentation_enabled() == handed_on[-1].trace_flags.sampled  # type: ignore[union-attr]
    sampled = {c.trace_id for c in handed_on if c is not None and c.trace_flags.sampled}
    exported = {span.context.trace_id for span in exporter.get_finished_spans()}
    assert exported == sampled
    assert 60 < len(sampled) < 140, "about half, as the sampler was asked"
    assert len({c.trace_id for c in handed_on if c is not None}) == 200, "a trace each"


def test_an_unsampled_parent_is_continued_unsampled_and_uninstrumented() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    unsampled_parent = PARENT[:-2] + "00"
    with TestClient(_served_traceparent_probe(tracing)) as client:
        answer = client.get("/probe", headers={"traceparent": unsampled_parent}).json()
    written = span_context_of(answer["traceparent"])
    assert written is not None
    assert not written.trace_flags.sampled
    assert f"{written.trace_id:032x}" == PARENT[3:35]
    assert answer["instrumented"] is False
    assert exporter.get_finished_spans() == ()


def test_a_request_named_untraced_gets_no_span_and_no_instrumentation() -> None:
    """A write admission control refuses costs no server span (telemetry.instrument)."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    app = FastAPI()

    @app.get("/probe")
    def probe() -> dict[str, bool]:
        return {"instrumented": is_instrumentation_enabled()}

    served = instrument_fastapi(
        app, tracing, untraced=lambda scope: scope["query_string"] == b"refused"
    )
    with TestClient(served) as client:
        refused = client.get("/probe?refused", headers={"traceparent": PARENT}).json()
        admitted = client.get("/probe", headers={"traceparent": PARENT}).json()
    assert (refused["instrumented"], admitted["instrumented"]) == (False, True)
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /probe"]


def test_requests_get_server_spans_in_a_process_quiet_outside_spans() -> None:
    """The ASGI middleware makes no server span where instrumentation is suppressed: the
    process's base context must not reach the requests (every POST's span was lost)."""
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    answers: list[dict[str, bool]] = []

    def process_main() -> None:  # a thread of its own: its base context is its own
        instrument_only_inside_spans(tracing)
        with TestClient(_served_probe(tracing)) as client:
            answers.append(client.get("/probe", headers={"traceparent": PARENT}).json())

    thread = threading.Thread(target=process_main)
    thread.start()
    thread.join()
    assert answers == [{"instrumented": True}]
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /probe"]


def test_once_asked_nothing_outside_a_span_is_instrumented() -> None:
    """A relay's polling query outside every span was a one-span trace of its own."""
    tracing = configure_tracing("svc", exporter=InMemorySpanExporter())
    seen: dict[str, bool] = {}

    def process_main() -> None:  # a thread of its own: a new thread starts from an empty context
        instrument_only_inside_spans(tracing)
        seen["outside"] = is_instrumentation_enabled()
        with tracing.span("sampled", parent=PARENT):
            seen["inside"] = is_instrumentation_enabled()

    thread = threading.Thread(target=process_main)
    thread.start()
    thread.join()
    assert seen == {"outside": False, "inside": True}
    assert is_instrumentation_enabled(), "only the thread that asked"


def test_the_disabled_instrumentations_are_read_as_opentelemetry_instrument_reads_them() -> None:
    tracing = configure_tracing(
        "svc",
        environ={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": " asyncpg , Botocore,"},
        exporter=InMemorySpanExporter(),
    )

    assert tracing.disabled_instrumentations == {"asyncpg", "botocore"}
    assert not tracing.instruments("asyncpg")
    assert configure_tracing("svc", environ={}, exporter=InMemorySpanExporter()).instruments(
        "asyncpg"
    )
    assert not configure_tracing("svc", environ={}).instruments("asyncpg")  # tracing off


@pytest.mark.parametrize("disabled", ["", "asyncpg"])
def test_asyncpg_is_wrapped_unless_its_instrumentation_is_disabled(disabled: str) -> None:
    import asyncpg
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    tracing = configure_tracing(
        "svc",
        environ={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled},
        exporter=InMemorySpanExporter(),
    )
    instrument_asyncpg(tracing)
    try:
        wrapped = hasattr(asyncpg.connection.Connection.fetch, "__wrapped__")
    finally:
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]

    assert wrapped is (disabled == "")
