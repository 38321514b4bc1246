"""The page's view of the wire: one consumer of every topic (dead-letter topics included).

It reads from the end, as a watcher does (no consumer group offsets, nothing committed), and
hands each record to ``on_record`` from its own thread; every few seconds it measures each
dead-letter topic's depth from the partitions' watermarks and hands that to ``on_depths``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from contract import topics
from contract.topics import all_topics
from devstack.flow.hops import Record

logger = logging.getLogger(__name__)

DEAD_LETTER_TOPICS: tuple[str, ...] = tuple(
    topics.dead_letter_topic(t.name) for t in topics.CONTRACT_TOPICS
)


class WireFeed:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        on_record: Callable[[Record], None],
        on_depths: Callable[[dict[str, int]], None],
        depth_interval: float = 2.0,
    ) -> None:
        self._consumer = _watcher(bootstrap_servers)
        # Depths are measured on a consumer and thread of their own: their round trips must
        # not hold up reading, or records would queue and be timed late, all at once.
        self._measurer = _watcher(bootstrap_servers)
        self._on_record = on_record
        self._on_depths = on_depths
        self._depth_interval = depth_interval
        self._stop = threading.Event()
        self._threads = (
            threading.Thread(target=self._read, name="wire-feed", daemon=True),
            threading.Thread(target=self._measure, name="dead-letter-depths", daemon=True),
        )

    def start(self) -> None:
        assignments = []
        for spec in all_topics():
            metadata = self._consumer.list_topics(spec.name, timeout=10).topics[spec.name]
            assignments += [TopicPartition(spec.name, p, OFFSET_END) for p in metadata.partitions]
        self._consumer.assign(assignments)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._consumer.close()
        self._measurer.close()

    def _measure(self) -> None:
        while not self._stop.is_set():
            self._report_depths()
            self._stop.wait(self._depth_interval)

    def _read(self) -> None:
        while not self._stop.is_set():
            # A short wait: a record is timed when it is read, so a long batch wait would
            # round every hop's latency up to it.
            for message in self._consumer.consume(200, 0.02):
                if message.error():
                    continue
                record = _record(message)
                if record is not None:
                    self._on_record(record)

    def _report_depths(self) -> None:
        depths: dict[str, int] = {}
        try:
            for topic in DEAD_LETTER_TOPICS:
                partitions = self._measurer.list_topics(topic, timeout=5).topics[topic].partitions
                depths[topic] = sum(
                    high - low
                    for low, high in (
                        self._measurer.get_watermark_offsets(
                            TopicPartition(topic, p), timeout=5, cached=False
                        )
                        for p in partitions
                    )
                )
        except KafkaException as error:
            logger.warning("dead-letter depth unavailable: %s", error)
            return
        self._on_depths(depths)


def _watcher(bootstrap_servers: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            # A group id librdkafka insists on; partitions are assigned, never subscribed.
            "group.id": f"careplan-flow-page-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            # A hop is timed when read: the broker answers a fetch as soon as a record is in.
            "fetch.wait.max.ms": 50,
            "log_level": 0,
        }
    )


def _record(message: Any) -> Record | None:
    headers = {
        name: (value or b"").decode(errors="replace") for name, value in message.headers() or []
    }
    try:
        data = json.loads(message.value() or b"null")
    except ValueError:
        return None
    event_type = headers.get("ce_type", "")
    if isinstance(data, dict) and "specversion" in data and "data" in data:
        # Structured mode: the whole CloudEvent is the value.
        event_type = str(data.get("type", ""))
        data = data["data"]
    _, timestamp_ms = message.timestamp()
    return Record(
        topic=message.topic(),
        event_type=event_type,
        key=(message.key() or b"").decode(errors="replace"),
        data=data if isinstance(data, dict) else {},
        timestamp_ms=int(timestamp_ms),
        partition=message.partition(),
        offset=message.offset(),
        seen_ms=int(time.time() * 1000),
    )
