"""An asyncio face for confluent-kafka's ``Producer``.

``AIOProducer`` of confluent-kafka cannot send headers (a librdkafka batch-produce limitation)
and CloudEvents binary mode lives in headers, so the plain ``Producer`` is used and each
delivery report resolves an asyncio future through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventing.cloudevents import KafkaRecord

LIBRDKAFKA_LOGGER = logging.getLogger("librdkafka")

RELIABLE_PRODUCER_CONFIG: Mapping[str, Any] = {
    # Idempotence gives exactly-once writes per partition and keeps order on retries.
    "enable.idempotence": True,
    "acks": "all",
    "max.in.flight.requests.per.connection": 5,
    # Latency and throughput together: a lone record waits at most 1 ms for company (the
    # booking path sends one or two records per transaction), while under load the records
    # that queue up during one round trip to the broker leave as one batch anyway.
    "linger.ms": 1,
    "batch.size": 1_000_000,
    # Cheap on CPU, and the JSON of our events compresses about 3:1.
    "compression.type": "lz4",
    # Room for a relay batch of 10,000 and more without BufferError round trips.
    "queue.buffering.max.messages": 500_000,
}


class DeliveryError(Exception):
    def __init__(self, error: KafkaError) -> None:
        super().__init__(str(error))
        self.kafka_error = error


class AsyncProducer:
    def __init__(self, config: Mapping[str, Any]) -> None:
        # librdkafka's own log lines go through Python logging (JSON, like the rest), not
        # straight to stderr.
        self._producer = Producer(
            {**RELIABLE_PRODUCER_CONFIG, "logger": LIBRDKAFKA_LOGGER, **config}
        )
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="kafka-producer-poll", daemon=True
        )
        self._poller.start()

    def _poll_loop(self) -> None:
        # Delivery reports are served by poll(); a thread keeps them flowing while the
        # event loop is busy with other work.
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def send(self, topic: str, record: KafkaRecord) -> asyncio.Future[Message]:
        """Queue a record; the future resolves when the broker acknowledged it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            loop.call_soon_threadsafe(_settle, future, error, message)

        self._produce(topic, record, on_delivery)
        return future

    async def send_many(
        self, records: Sequence[tuple[str, KafkaRecord]]
    ) -> list[DeliveryError | None]:
        """Queue records in order; once the broker settled all of them, each one's outcome
        (None when acknowledged). One wake-up of the event loop for the whole batch instead of
        one per record: that handoff between threads cost more than producing."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()
        outcomes: list[DeliveryError | None] = [None] * len(records)
        pending = itertools.count(len(records) - 1, -1)
        guard = threading.Lock()  # reports come from the poll thread and from produce's own poll

        def reporter(index: int) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(error: KafkaError | None, _: Message) -> None:
                if error is not None:
                    outcomes[index] = DeliveryError(error)
                with guard:
                    left = next(pending)
                if left == 0:
                    loop.call_soon_threadsafe(_done, settled)

            return on_delivery

        for index, (topic, record) in enumerate(records):
            self._produce(topic, record, reporter(index))
        await settled
        return outcomes

    def _produce(
        self,
        topic: str,
        record: KafkaRecord,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                # The local queue is full: let librdkafka drain it before queueing more.
                self._producer.poll(0.1)

    async def send_and_wait(self, topic: str, record: KafkaRecord) -> Message:
        return await self.send(topic, record)

    def flush(self, timeout: float = 30.0) -> int:
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> None:
        remaining = self.flush(timeout)
        self._closed.set()
        self._poller.join(timeout=5)
        if remaining:
            raise KafkaException(f"{remaining} records were not delivered before close")


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _settle(future: asyncio.Future[Message], error: KafkaError | None, message: Message) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(DeliveryError(error))
    else:
        future.set_result(message)
