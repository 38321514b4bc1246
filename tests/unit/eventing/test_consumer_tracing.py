"""eventing.consumer_tracing: a batch is a span linked to its records' traces, and each event
the handler gets carries its own record's span, so the handler's writes continue that trace."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventing.cloudevents import Event
from eventing.consumer_tracing import apply_traced_batch
from eventing.consumer_types import RecordContext
from telemetry import configure_tracing

PARENTS = [
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-1bf7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01",
]


def _pair(index: int, traceparent: str) -> tuple[Event, RecordContext]:
    event = Event(id=f"e{index}", source="/t", type="T", data={}, traceparent=traceparent)
    record = RecordContext("topic", 0, index, 0, None, b"{}", [])
    return event, record


async def test_each_event_carries_its_own_records_span_and_the_batch_links_them_all() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("svc", exporter=exporter)
    handed: list[Sequence[tuple[Event, RecordContext]]] = []

    async def handler(batch: Sequence[tuple[Event, RecordContext]]) -> None:
        handed.append(batch)

    await apply_traced_batch(
        tracing, "group", [_pair(i, p) for i, p in enumerate(PARENTS)], handler
    )

    spans = exporter.get_finished_spans()
    batch = next(s for s in spans if s.name == "process topic batch")
    records = [s for s in spans if s.name == "process topic"]
    assert [link.context.trace_id for link in batch.links] == [int(p[3:35], 16) for p in PARENTS]
    for (event, _), span, parent in zip(handed[0], records, PARENTS, strict=True):
        assert span.context.trace_id == int(parent[3:35], 16)
        assert (
            event.traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"
        )
        assert [link.context.span_id for link in span.links] == [batch.context.span_id]
