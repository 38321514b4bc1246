"""Watches the platform's topics from their current end and notes when each event shows up.

The demo uses it to time every hop of the booking story on the wire, not just over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition


@dataclass(frozen=True, slots=True)
class Sighting:
    topic: str
    event_type: str
    key: str
    data: dict[str, Any]
    seen_at: float
    partition: int = -1
    offset: int = -1


class TopicWatch:
    def __init__(self, bootstrap_servers: str, topics: Iterable[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"careplan-demo-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        self._topics = list(topics)
        self._sightings: list[Sighting] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topic-watch", daemon=True)

    def __enter__(self) -> TopicWatch:
        assignments = []
        for topic in self._topics:
            partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assignments += [TopicPartition(topic, p, OFFSET_END) for p in partitions]
        self._consumer.assign(assignments)
        # Resolve the end offsets now, so that nothing produced from here on is missed.
        self._consumer.poll(0.5)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(100, 0.2):
                if message.error():
                    continue
                headers = {name: (value or b"").decode() for name, value in message.headers() or []}
                try:
                    data = json.loads(message.value() or b"null")
                except ValueError:
                    continue
                sighting = Sighting(
                    message.topic(),
                    headers.get("ce_type", ""),
                    (message.key() or b"").decode(),
                    data if isinstance(data, dict) else {},
                    time.monotonic(),
                    message.partition(),
                    message.offset(),
                )
                with self._lock:
                    self._sightings.append(sighting)

    def find(self, topic: str, event_type: str, key: str) -> Sighting | None:
        with self._lock:
            for sighting in self._sightings:
                if (sighting.topic, sighting.event_type, sighting.key) == (topic, event_type, key):
                    return sighting
        return None
