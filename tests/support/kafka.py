"""Kafka helpers for tests: unique topics and reading a topic back to the end."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from contract.topics import TopicSpec, dead_letter_topic
from devstack.kafka import create_topics
from devstack.settings import DevstackSettings

# A header on records a test puts on a contract topic wrong on purpose (to show they are parked
# in the DLT): the contract audit skips them, and only them.
DELIBERATELY_INVALID = ("x-careplan-test", b"deliberately-invalid")


def unique_topic(settings: DevstackSettings, prefix: str, partitions: int = 3) -> str:
    """A topic and its dead-letter topic that no other test uses."""
    name = f"test.{prefix}.{uuid.uuid4().hex[:8]}"
    create_topics(
        settings, [TopicSpec(name), TopicSpec(dead_letter_topic(name))], partitions=partitions
    )
    return name


def read_all(settings: DevstackSettings, topic: str, *, expect: int, timeout: float = 30.0) -> list:
    """The records of ``topic`` from the beginning, as soon as at least ``expect`` arrived: a
    wait for something to arrive, never a count (a duplicate may come later): counts and
    duplicate checks use ``read_to_end`` after proof that everything was sent."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = _partitions(consumer, topic, deadline)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list = []
        while time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if not message.error():
                    records.append(message)
            if len(records) >= expect:
                break
        return records
    finally:
        consumer.close()


def read_to_end(settings: DevstackSettings, topic: str, *, timeout: float = 30.0) -> list:
    """Every committed record of ``topic`` up to its end offsets as of this call: a duplicate
    written before the call is seen, however late it arrived (no draining for a fixed time).
    A transaction still open then is waited for (the reader's end stops at it until it is
    committed or aborted); records of aborted transactions are not returned."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "log_level": 0,
        }
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = _partitions(consumer, topic, deadline)
        ends = _high_watermarks(settings, topic, partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list = []
        at_end: set[int] = {p for p, end in ends.items() if end == 0}
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} not read to {ends} in {timeout} s")
            for message in consumer.consume(500, 0.5):
                error = message.error()
                if error is None:
                    records.append(message)
                # The end a read_committed reader sees stops at an open transaction: done
                # only once it reached the end offset taken above.
                elif (
                    error.code() == KafkaError._PARTITION_EOF
                    and message.offset() >= ends[message.partition()]
                ):
                    at_end.add(message.partition())
        return records
    finally:
        consumer.close()


def _high_watermarks(
    settings: DevstackSettings, topic: str, partitions: list[int]
) -> dict[int, int]:
    """The partitions' log ends. Asked by a read_uncommitted client: a read_committed one is
    told the last stable offset, which an open transaction holds back."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0,
                         "group.id": f"ends-{uuid.uuid4().hex}",
                         "isolation.level": "read_uncommitted"})  # fmt: skip
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def wait_until_committed_to_end(
    settings: DevstackSettings, group: str, topic: str, *, timeout: float = 60.0
) -> None:
    """Until ``group`` has committed every partition of ``topic`` up to its end as of this call:
    proof that every record there was processed, before a test looks for what did not happen."""
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": group, "log_level": 0}
    )
    try:
        deadline = time.monotonic() + timeout
        wanted = [TopicPartition(topic, p) for p in _partitions(consumer, topic, deadline)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in wanted}
        while True:
            committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
            if all(committed[p] >= end for p, end in ends.items() if end > 0):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} did not commit {topic} to {ends}: {committed}")
            time.sleep(0.1)
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str, deadline: float) -> list[int]:
    # A topic created a moment ago may not show its partitions in metadata yet; assigning
    # an empty list would then read nothing at all.
    while time.monotonic() < deadline:
        described = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if described is not None and described.error is None and described.partitions:
            return sorted(described.partitions)
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} has no partitions in metadata")
