"""Reading the service's topics back in tests: whole topics to their end, or until a condition
holds, each with a deadline (no sleeps as assertions)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, from_record, to_record


@dataclass(frozen=True)
class Received:
    """One record: its CloudEvent and the raw record facts the contract talks about."""

    event: Event
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, bytes]


def _consumer(settings: DevstackSettings) -> Consumer:
    return Consumer({
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": f"ps-test-reader-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "log_level": 0,
    })  # fmt: skip


def _received(message: Any) -> Received:
    headers = {name: value for name, value in (message.headers() or []) if value is not None}
    key = message.key()
    return Received(
        event=from_record(key, message.value(), list(headers.items())),
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=key.decode() if key is not None else None,
        headers=headers,
    )


def read_until(
    settings: DevstackSettings,
    topic: str,
    done: Callable[[list[Received]], bool],
    *,
    timeout: float = 60.0,
) -> list[Received]:
    """Every record of ``topic`` from the beginning, read until ``done(records)`` holds.

    Raises AssertionError at the deadline, with what was read so far in the message.
    """
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[Received] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.2):
                if not message.error():
                    records.append(_received(message))
            if done(records):
                return records
        raise AssertionError(f"{topic}: condition not met within {timeout} s "
                             f"({len(records)} records read)")  # fmt: skip
    finally:
        consumer.close()


def read_to_end(settings: DevstackSettings, topic: str, *, timeout: float = 60.0) -> list[Received]:
    """Every record of ``topic`` up to the end offsets as they are now."""
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}  # fmt: skip
    finally:
        consumer.close()

    def reached_end(records: list[Received]) -> bool:
        last: dict[int, int] = {}
        for record in records:
            last[record.partition] = max(last.get(record.partition, -1), record.offset)
        return all(end == 0 or last.get(p, -1) >= end - 1 for p, end in ends.items())

    return read_until(settings, topic, reached_end, timeout=timeout)


def produce(
    settings: DevstackSettings,
    topic: str,
    events: Sequence[Event],
    extra_headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Publish events as the Java SDK would (binary mode), and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})  # fmt: skip
    failures: list[str] = []

    def on_delivery(error: Any, _: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for event in events:
        record = to_record(event)
        while True:
            try:
                producer.produce(topic, key=record.key, value=record.value,
                                 headers=[*record.headers, *extra_headers],
                                 on_delivery=on_delivery)  # fmt: skip
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} records not delivered"
    assert not failures, failures
