"""The Kafka side of the sink, on the shared consumer runner (``eventing.consumer``).

The runner polls, groups a poll's records by partition, hands each group to ``forward_batch``
and commits a partition's offsets only once that call returned. ``forward_batch`` returns only
when every record of the group is settled: accepted by EventBridge (the forwarder sends the
group in parallel PutEvents calls and retries a failing call until it goes through), or parked in
``<topic>.dlt`` with the broker's acknowledgement. A crash before that re-forwards the group;
EventBridge then sees a record twice, which its consumers tell apart by the Kafka coordinates
(topic, partition, offset) in the event's detail. A record that is not a CloudEvent is parked by
the runner as malformed before it reaches the forwarder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from eventbridge_sink.forwarder import Forwarder, Rejected
from eventbridge_sink.mapping import KafkaRecord
from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner
from eventing.consumer_types import RecordContext
from eventing.dead_letter import DeadLetterPublisher, DeadLetterReason
from eventing.producer import AsyncProducer

logger = logging.getLogger(__name__)

FORWARDED = Counter("eventbridge_sink_records_total", "Records by outcome", ["topic", "outcome"])

_REASONS = {
    "malformed": DeadLetterReason.MALFORMED,
    "retries-exhausted": DeadLetterReason.RETRIES_EXHAUSTED,
}


class EntryRejectedError(Exception):
    """EventBridge would not take the event (the message says why)."""


class KafkaToEventBridge:
    def __init__(
        self,
        *,
        client_config: dict[str, Any],
        group_id: str,
        topics: Sequence[str],
        forwarder: Forwarder,
        producer: AsyncProducer,
        batch_size: int = 100,
    ) -> None:
        """:param producer: sends what cannot be forwarded to ``<topic>.dlt``."""
        self._forwarder = forwarder
        self._dead_letters = DeadLetterPublisher(producer, group_id)
        self._runner = ConsumerRunner(
            client_config=client_config,
            group_id=group_id,
            topics=topics,
            handler=self.forward_one,
            batch_handler=self.forward_batch,
            producer=producer,
            batch_size=batch_size,
        )

    @property
    def assigned(self) -> asyncio.Event:
        return self._runner.assigned

    async def run(self, stop: asyncio.Event) -> None:
        await self._runner.run(stop)

    async def forward_one(self, event: Event, record: RecordContext) -> None:
        await self.forward_batch([(event, record)])

    async def forward_batch(self, batch: Sequence[tuple[Event, RecordContext]]) -> None:
        verdict = await self._forwarder.forward([_record(context) for _, context in batch])
        for rejected in verdict.rejected:
            await self._park(rejected)
        for record in verdict.accepted:
            FORWARDED.labels(record.topic, "accepted").inc()

    async def _park(self, rejected: Rejected) -> None:
        record = rejected.record
        context = RecordContext(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp_ms or 0,
            key=record.key,
            value=record.value,
            headers=[(name, value) for name, value in record.headers if value is not None],
        )
        await self._dead_letters.park(
            context,
            reason=_REASONS[rejected.reason],
            error=EntryRejectedError(rejected.error),
            attempts=rejected.attempts,
        )
        FORWARDED.labels(record.topic, "dead-lettered").inc()
        logger.error(
            "record parked",
            extra={
                "topic": record.topic,
                "offset": record.offset,
                "reason": rejected.reason,
                "error": rejected.error,
            },
        )


def _record(context: RecordContext) -> KafkaRecord:
    return KafkaRecord(
        topic=context.topic,
        partition=context.partition,
        offset=context.offset,
        # librdkafka reports -1 for a record without a timestamp.
        timestamp_ms=context.timestamp if context.timestamp >= 0 else None,
        headers=list(context.headers),
        key=context.key,
        value=context.value,
    )
