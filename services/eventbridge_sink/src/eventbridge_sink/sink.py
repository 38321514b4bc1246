"""The Kafka side of the sink: consume, forward, park what cannot go, commit what is settled.

Offsets are committed only once every record of a poll is settled: accepted by EventBridge, or
parked in ``<topic>.dlt`` with the broker's acknowledgement. A crash before that re-forwards the
poll; EventBridge then sees a record twice, which its consumers tell apart by the Kafka
coordinates (topic, partition, offset) in the event's detail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from prometheus_client import Counter

from eventbridge_sink.forwarder import Forwarder, Rejected
from eventbridge_sink.mapping import KafkaRecord
from eventing.consumer_types import RecordContext
from eventing.dead_letter import DeadLetterPublisher, DeadLetterReason

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
        consumer_config: dict[str, Any],
        topics: list[str],
        forwarder: Forwarder,
        dead_letters: DeadLetterPublisher,
        batch_size: int = 100,
    ) -> None:
        self._config = {
            **consumer_config,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
        }
        self._topics = topics
        self._forwarder = forwarder
        self._dead_letters = dead_letters
        self._batch_size = batch_size
        self.assigned = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = Consumer(self._config)
        consumer.subscribe(self._topics, on_assign=lambda *_: self.assigned.set())
        try:
            while not stop.is_set():
                messages = await asyncio.to_thread(consumer.consume, self._batch_size, 0.5)
                records = [_record(m) for m in messages if _usable(m)]
                if not records:
                    continue
                verdict = await self._forwarder.forward(records)
                for rejected in verdict.rejected:
                    await self._park(rejected)
                for record in verdict.accepted:
                    FORWARDED.labels(record.topic, "accepted").inc()
                await asyncio.to_thread(
                    consumer.commit, offsets=_next_offsets(records), asynchronous=False
                )
        finally:
            await asyncio.to_thread(consumer.close)

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


def _usable(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() != KafkaError._PARTITION_EOF:
        logger.warning("consumer error", extra={"error": str(error)})
    return False


def _record(message: Message) -> KafkaRecord:
    timestamp_type, timestamp = message.timestamp()
    return KafkaRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=timestamp if timestamp_type else None,
        headers=list(message.headers() or []),
        key=message.key(),
        value=message.value(),
    )


def _next_offsets(records: list[KafkaRecord]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        last[key] = max(last.get(key, -1), record.offset)
    return [
        TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()
    ]
