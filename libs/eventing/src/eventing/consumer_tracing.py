"""The consumer runner's spans: a record's span continues the trace that published it; a
batch applied in one transaction is a span of its own, linked to every record it serves."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from opentelemetry.trace import SpanKind

from eventing.cloudevents import Event
from eventing.consumer_metrics import timed
from eventing.consumer_types import BatchHandler, RecordContext
from telemetry import Tracing


def topic_attributes(group_id: str, topic: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group_id,
    }


def record_attributes(group_id: str, event: Event, record: RecordContext) -> dict[str, str | int]:
    return {
        **topic_attributes(group_id, record.topic),
        "messaging.message.id": event.id,
        "messaging.kafka.offset": record.offset,
        "messaging.destination.partition.id": str(record.partition),
        "cloudevents.event_type": event.type,
    }


async def apply_traced_batch(
    tracing: Tracing,
    group_id: str,
    batch: Sequence[tuple[Event, RecordContext]],
    handler: BatchHandler,
) -> None:
    """``handler`` under the batch's span; each event it gets carries its record's own span,
    so what the handler writes for a record continues that record's trace."""
    topic = batch[0][1].topic
    with tracing.span(
        f"process {topic} batch",
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.batch.message_count": len(batch),
            **topic_attributes(group_id, topic),
        },
        links=[event.traceparent for event, _ in batch],
    ) as batch_span:
        traced = []
        for event, record in batch:
            # Ended at once: the record's trace goes on from here, and the work it shares
            # with the batch is under the batch span, which it links to.
            traceparent = tracing.span_ended_at_once(
                f"process {topic}",
                parent=event.traceparent,
                kind=SpanKind.CONSUMER,
                attributes=partial(record_attributes, group_id, event, record),
                links=[batch_span],
            )
            traced.append((event.with_traceparent(traceparent), record))
        with timed(group_id, topic, len(batch)):
            await handler(traced)
