"""RED metrics of the consumers: processing time per record (with the trace as exemplar),
and lag per partition after each commit. Records by outcome are counted in ``consumer``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from confluent_kafka import TopicPartition
from prometheus_client import Gauge, Histogram

from telemetry import exemplar

PROCESSING = Histogram(
    "eventing_record_processing_seconds",
    "Time from taking a record to having applied it (a batch's records share its time)",
    ["group", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
LAG = Gauge(
    "eventing_consumer_lag_records",
    "Records behind the partition's end after the last commit",
    ["group", "topic", "partition"],
)


@contextmanager
def timed(group: str, topic: str, records: int = 1) -> Iterator[None]:
    """Observe the block's time once per record it applied; the span current at the end (the
    record's or the batch's, with tracing on) becomes the exemplar."""
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - began
        sample = exemplar()
        child = PROCESSING.labels(group, topic)
        for _ in range(records):
            child.observe(seconds, sample)


def observe_lag(consumer: Any, group: str, committed: Sequence[TopicPartition]) -> None:
    """Lag from the high watermarks librdkafka cached with its last fetch (no round trip)."""
    for position in committed:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(position.topic, position.partition), cached=True
        )
        if high >= 0:
            LAG.labels(group, position.topic, str(position.partition)).set(
                max(0, high - position.offset)
            )
