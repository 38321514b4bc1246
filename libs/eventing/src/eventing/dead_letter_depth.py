"""DLT depth as a metric: how many records wait in the dead-letter topics a service feeds.

A parked record needs an operator (``careplan dlt``); a gauge that rises is what should page
one. Sampled in the background, a thread doing the broker calls, never per scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import Gauge

from contract.topics import dead_letter_topic
from eventing.redrive import Redrive

logger = logging.getLogger(__name__)

DEAD_LETTER_DEPTH = Gauge(
    "eventing_dead_letter_records",
    "Records parked in a dead-letter topic (end minus start offsets over its partitions)",
    ["topic"],
)


class DeadLetterDepthMonitor:
    def __init__(
        self,
        client_config: Mapping[str, Any],
        consumed_topics: Sequence[str],
        *,
        interval_seconds: float = 30.0,
    ) -> None:
        self._client_config = client_config
        self._topics = [dead_letter_topic(topic) for topic in consumed_topics]
        self._interval = interval_seconds

    def sample(self, redrive: Redrive) -> dict[str, int]:
        depths = {topic: redrive.depth(topic) for topic in self._topics}
        for topic, depth in depths.items():
            DEAD_LETTER_DEPTH.labels(topic).set(depth)
        return depths

    async def run(self, stop: asyncio.Event) -> None:
        redrive = Redrive(self._client_config, timeout=5.0)
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sample, redrive)
            except Exception as error:  # the broker away: keep the last value
                logger.warning("dead-letter depth not measured", extra={"error": repr(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
