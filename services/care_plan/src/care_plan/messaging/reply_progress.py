"""How far the booking reply consumer group has read: the sweeper's guard against our outages.

A booking must not expire because Care Plan was down or rebalancing while its confirmation was
already waiting on ``provider.availability.booking.replies`` (a restart used to take 45 s; the
deadline is 30 s). So the sweeper does not judge deadlines against its own clock alone: it asks
when the group was last *caught up*, i.e. had committed every partition of the replies topic up
to the end it had at some moment ``T``. Every reply written before ``T`` has then been applied,
so a booking still waiting whose deadline is before ``T`` truly got no reply in time.

It is the committed offsets of the whole group, not one consumer's position, so the rule holds
with any number of replicas, whichever of them owns a booking's partition.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from eventing.producer import LIBRDKAFKA_LOGGER

logger = logging.getLogger(__name__)


class ReplyProgress:
    def __init__(
        self, client_config: Mapping[str, Any], *, group_id: str, topic: str, timeout: float = 5.0
    ) -> None:
        # A consumer that never subscribes: it only reads the group's committed offsets and
        # the topic's ends, and joins no group.
        self._consumer = Consumer(
            {**client_config, "group.id": group_id, "logger": LIBRDKAFKA_LOGGER}
        )
        self._topic = topic
        self._timeout = timeout
        # A cancelled ``asyncio.to_thread`` leaves its thread running: closing the consumer under
        # a query still in flight aborted the whole process inside librdkafka. Close waits.
        self._in_use = threading.Lock()

    async def caught_up_as_of(self) -> datetime | None:
        """A time ``T`` such that every reply written before ``T`` has been applied; None when
        the group is behind (or Kafka cannot be asked): then nothing may expire yet."""
        try:
            return await asyncio.to_thread(self._caught_up_as_of)
        except KafkaException as error:
            logger.warning("reply progress unknown", extra={"error": str(error)})
            return None

    def _caught_up_as_of(self) -> datetime | None:
        with self._in_use:
            return self._query_caught_up_as_of()

    def _query_caught_up_as_of(self) -> datetime | None:
        metadata = self._consumer.list_topics(self._topic, timeout=self._timeout)
        partitions = [
            TopicPartition(self._topic, p) for p in metadata.topics[self._topic].partitions
        ]
        # The ends first: what the group committed afterwards is compared with them.
        moment = datetime.now(UTC)
        ends = {
            tp.partition: self._consumer.get_watermark_offsets(tp, timeout=self._timeout)[1]
            for tp in partitions
        }
        committed = self._consumer.committed(partitions, timeout=self._timeout)
        for tp in committed:
            end = ends[tp.partition]
            # A negative offset: nothing committed yet, which is caught up only on an empty
            # partition.
            if end > 0 and tp.offset < end:
                return None
        return moment

    def close(self) -> None:
        with self._in_use:
            self._consumer.close()
