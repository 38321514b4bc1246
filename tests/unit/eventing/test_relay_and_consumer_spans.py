"""One booking is one trace: the relay's publish span continues the transaction that wrote the
row and its record carries that span; the consumer's process span continues the record's, and
the handler's event carries it on. In-memory exporter, fakes for the outbox and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData

from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.consumer_types import RecordContext
from eventing.outbox import outbox_table
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay, RelayOptions
from telemetry import Tracing, configure_tracing
from tests.unit.eventing.outbox_fakes import FakeOutboxDatabase, FakeProducer
from tests.unit.eventing.test_consumer_outcomes import FakeMessage
from tests.unit.eventing.test_consumer_outcomes import FakeProducer as FakeDeadLetters

ROW_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = int(ROW_PARENT[3:35], 16)


def _ids(span: ReadableSpan) -> str:
    """A traceparent's version, trace and span id (its flags depend on how the id was made)."""
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    return configure_tracing("svc", exporter=exporter)


async def test_each_record_carries_a_publish_span_of_its_rows_transaction(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter, tracing: Tracing
) -> None:
    database = FakeOutboxDatabase()
    database.add(1, 2)
    database.rows[0]["traceparent"] = ROW_PARENT
    monkeypatch.setattr("eventing.relay.asyncpg.connect", database.connect)
    producer = FakeProducer()
    fake: AsyncProducer = producer  # type: ignore[assignment]
    relay = OutboxRelay(
        dsn="postgresql://fake", table=outbox_table(MetaData(schema="things")), producer=fake,
        options=RelayOptions(idle_poll_seconds=600), tracing=tracing,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    async with asyncio.timeout(5):
        while database.published != {1, 2}:
            await asyncio.sleep(0.001)
    stop.set()
    await task

    spans = exporter.get_finished_spans()
    [batch] = [span for span in spans if span.name == "outbox relay publish"]
    assert batch.kind is SpanKind.PRODUCER
    assert batch.attributes == {"messaging.batch.message_count": 2}
    assert [link.context.trace_id for link in batch.links] == [TRACE_ID]
    first, second = (span for span in spans if span.name == "publish things")
    assert first.kind is SpanKind.PRODUCER
    assert first.context.trace_id == TRACE_ID
    assert first.parent is not None
    assert first.parent.span_id == int(ROW_PARENT[36:52], 16)
    assert first.attributes == {
        "messaging.system": "kafka",
        "messaging.destination.name": "things",
        "messaging.message.id": "e1",
        "cloudevents.event_type": "THING_HAPPENED",
    }
    assert second.context.trace_id != TRACE_ID, "a row without a trace starts one"
    headers = [dict(record.headers) for _, record in producer.batches[0]]
    assert [h["traceparent"].decode()[:52] for h in headers] == [
        _ids(first),
        _ids(second),
    ]
    assert [record.value for _, record in producer.batches[0]] == [b'{"n":1}', b'{"n":2}']


def _runner(tracing: Tracing, handler: object, batch_handler: object = None) -> ConsumerRunner:
    return ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler,  # type: ignore[arg-type]
        producer=FakeDeadLetters(),  # type: ignore[arg-type]
        batch_handler=batch_handler,  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=1), tracing=tracing,
    )  # fmt: skip


async def test_a_records_span_continues_its_publishers_trace_into_the_handler(
    exporter: InMemorySpanExporter, tracing: Tracing
) -> None:
    event = Event(id="e1", source="/t", type="THING", data={}, key="k", traceparent=ROW_PARENT)
    handled: list[Event] = []

    async def handler(event: Event, _: RecordContext) -> None:
        handled.append(event)

    processed: dict[tuple[str, int], int] = {}
    await _runner(tracing, handler)._handle_records([FakeMessage(event)], processed)  # type: ignore[list-item]

    [span] = exporter.get_finished_spans()
    assert span.name == "process things"
    assert span.kind is SpanKind.CONSUMER
    assert span.context.trace_id == TRACE_ID
    assert span.parent is not None
    assert span.parent.span_id == int(ROW_PARENT[36:52], 16)
    assert span.attributes is not None
    assert span.attributes["messaging.consumer.group.name"] == "g"
    assert span.attributes["messaging.message.id"] == "e1"
    assert [(e.traceparent or "")[:52] for e in handled] == [_ids(span)]
    assert [e.id for e in handled] == ["e1"]
    assert processed == {("things", 0): 7}


async def test_a_traced_batch_is_applied_once_under_its_batch_span(
    exporter: InMemorySpanExporter, tracing: Tracing
) -> None:
    events = [
        Event(id=f"e{n}", source="/t", type="T", data={}, traceparent=ROW_PARENT) for n in range(2)
    ]
    batches: list[list[str]] = []

    async def batch_handler(batch: Sequence[tuple[Event, RecordContext]]) -> None:
        batches.append([event.id for event, _ in batch])

    async def handler(event: Event, _: RecordContext) -> None:
        raise AssertionError("the batch succeeded: no record is applied alone")

    runner = _runner(tracing, handler, batch_handler)
    processed: dict[tuple[str, int], int] = {}
    messages = [FakeMessage(event, offset) for offset, event in enumerate(events, start=3)]
    await runner._handle_records(messages, processed)  # type: ignore[arg-type]

    assert batches == [["e0", "e1"]]
    assert processed == {("things", 0): 4}
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == [
        "process things",
        "process things",
        "process things batch",
    ]
    for span in spans:
        assert span.attributes is not None
        assert span.attributes["messaging.consumer.group.name"] == "g"
