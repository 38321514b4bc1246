"""The consumer loop every service uses.

- Offsets are committed by hand, after a record was processed or parked in the DLT; a crash
  redelivers at most the records since the last commit, and the inbox makes that harmless.
- Records of one partition are processed one after the other, in order. With a batch
  handler, the records one poll returned for a topic, from all its partitions, are applied
  together (one database transaction); if that fails they are applied again one by one, so a
  poison record is still isolated and parked and nothing is skipped. (A malformed record is
  parked as the batch is read: a stop or a crash before the poll's offsets are committed
  parks it again when it comes again; the dead-letter topic is at least once.)
- Transient failures are retried with exponential backoff; malformed records, permanent
  failures and exhausted retries go to ``<topic>.dlt`` and the loop moves on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from eventing.cloudevents import Event, MalformedEventError, from_record
from eventing.consumer_metrics import observe_lag, timed
from eventing.consumer_tracing import apply_traced_batch, record_attributes
from eventing.consumer_types import BatchHandler, PermanentError, RecordContext, RecordHandler
from eventing.dead_letter import DeadLetterPublisher, DeadLetterReason
from eventing.membership import fast_resume_config
from eventing.producer import LIBRDKAFKA_LOGGER, AsyncProducer
from eventing.redaction import describe_error
from telemetry import Tracing

__all__ = ["ConsumerRunner", "PermanentError", "RecordContext", "RecordHandler", "RetryPolicy"]

logger = logging.getLogger(__name__)

RECORDS = Counter(
    "eventing_consumed_records_total",
    "Records taken from Kafka by outcome",
    ["group", "topic", "outcome"],
)
BATCH_SIZES = Histogram(
    "eventing_consumed_batch_records",
    "Records applied together in one transaction",
    ["group"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 5.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        return float(
            min(
                self.max_backoff_seconds,
                self.initial_backoff_seconds * self.multiplier ** (attempt - 1),
            )
        )


# Errors that say the record itself is wrong: retrying cannot help.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError,
    MalformedEventError,
    ValidationError,
)


def is_outage(error: BaseException) -> bool:
    """The database or the network is away: the record is not at fault, so it must wait for
    the outage to end rather than be parked (the DLT is for records that can never succeed)."""
    if isinstance(error, OSError | TimeoutError):
        return True
    # The database's own connection errors, where eventing[database] is installed. Without it
    # (the Quix Streams app, the sink) there is no asyncpg, hence no database outage to wait for.
    try:
        from eventing.database import is_connection_error
    except ModuleNotFoundError as missing:
        if missing.name != "asyncpg":
            raise
        return False
    return is_connection_error(error)


class _StopRequestedError(Exception):
    """Raised out of a wait for an outage to end when the runner is asked to stop."""


class ConsumerRunner:
    def __init__(
        self,
        *,
        client_config: dict[str, Any],
        group_id: str,
        topics: Sequence[str],
        handler: RecordHandler,
        producer: AsyncProducer,
        batch_handler: BatchHandler | None = None,
        retry: RetryPolicy | None = None,
        permanent_errors: tuple[type[BaseException], ...] = PERMANENT_ERRORS,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        extra_config: dict[str, Any] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """:param tracing: on, each record is processed in a span, child of the one that
        published it (its ``traceparent``), and the event the handler gets carries that span's
        traceparent, so what the handler writes continues the trace; a batch is a span of
        its own, linked to every record it applies."""
        self._group_id = group_id
        self._tracing = tracing or Tracing()
        self._topics = list(topics)
        self._handler = handler
        self._batch_handler = batch_handler
        self._dead_letters = DeadLetterPublisher(producer, group_id)
        self._retry = retry or RetryPolicy()
        self._permanent_errors = permanent_errors
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._config = {
            **client_config,
            "group.id": group_id,
            # Offsets are committed by hand once a record's effects are committed.
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # A rebalance moves only the partitions that change hands: the others keep flowing.
            "partition.assignment.strategy": "cooperative-sticky",
            # Latency: the broker answers a fetch as soon as one byte is there (the default),
            # and holds an empty one at most this long, so an idle consumer costs little.
            # (Tuning, measured by bench/, which no functional test can tell apart: not mutated.)
            "fetch.min.bytes": 1,  # pragma: no mutate
            "fetch.wait.max.ms": 100,  # pragma: no mutate
            # Throughput: librdkafka prefetches in the background while a batch is applied; the
            # next poll then finds a full batch waiting (``batch_size`` records at most).
            "queued.min.messages": 10_000,  # pragma: no mutate
            "logger": LIBRDKAFKA_LOGGER,
            # A restarted replica takes its partitions back in about a second (static
            # membership) instead of waiting out the dead member's session.
            **fast_resume_config(group_id),
            **(extra_config or {}),
        }
        self.assigned = asyncio.Event()
        self._stop = asyncio.Event()

    @property
    def group_id(self) -> str:
        return self._group_id

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        consumer = Consumer(self._config)
        consumer.subscribe(self._topics, on_assign=self._on_assign)
        # A cancelled to_thread leaves its thread in poll() or commit(): closing the consumer
        # under it aborts the process inside librdkafka, so each use holds this lock.
        in_use = threading.Lock()
        try:
            while not stop.is_set():
                messages = await asyncio.to_thread(_holding, in_use, self._next_batch, consumer)
                processed: dict[tuple[str, int], int] = {}
                try:
                    for topic_records in _by_topic(messages):
                        if stop.is_set():
                            break
                        await self._handle_records(topic_records, processed)
                except _StopRequestedError:
                    pass  # what was not processed is not committed: it comes again
                if processed:
                    offsets = [TopicPartition(t, p, o + 1) for (t, p), o in processed.items()]
                    # The lag is read from librdkafka's cache (no round trip) in the same trip
                    # to a worker thread as the commit: a second trip per batch cost ~70 us of
                    # the loop's CPU per batch, a booking's share of it at moderate load.
                    await asyncio.to_thread(
                        _holding, in_use, _commit_and_observe_lag, consumer, self._group_id, offsets
                    )
        finally:
            await asyncio.to_thread(_holding, in_use, consumer.close)

    async def _handle_records(
        self, messages: list[Message], processed: dict[tuple[str, int], int]
    ) -> None:
        """The records of one topic, each partition's in order; ``processed`` advances as
        they are done."""
        records = [_context(message) for message in messages]
        if self._batch_handler is not None and len(records) > 1:
            pending = await self._apply_batch(records)
            for event, record in pending:
                self._unless_stopping()
                await self._apply(event, record)
                _advance(processed, record)
            # Applied in the batch, or malformed and parked while it was read: all done.
            for record in records:
                _advance(processed, record)
            return
        for record in records:
            self._unless_stopping()
            if (readable := await self._read(record)) is not None:
                await self._apply(readable, record)
            _advance(processed, record)

    def _unless_stopping(self) -> None:
        """Between records applied one by one: asked to stop, the rest of the poll is left
        (not committed, it comes again) rather than applied into a shutdown."""
        if self._stop.is_set():
            raise _StopRequestedError

    async def _apply_batch(self, records: list[RecordContext]) -> list[tuple[Event, RecordContext]]:
        """Apply the readable records in one call of the batch handler; the records still to
        be applied one by one (all of them, if the batch failed for a reason of its own)."""
        assert self._batch_handler is not None
        batch = [(event, record) for record in records if (event := await self._read(record))]
        while batch:
            try:
                if self._tracing.enabled:
                    await apply_traced_batch(
                        self._tracing, self._group_id, batch, self._batch_handler
                    )
                else:
                    # One transaction for the batch: each record waited for all of it.
                    with timed(self._group_id, batch[0][1].topic, len(batch)):
                        await self._batch_handler(batch)
            except Exception as error:
                if is_outage(error):
                    await self._wait_out_outage(_where(batch[0][1]), 0, error)
                    continue
                # One record may be at fault: record by record isolates and parks it.
                logger.warning(
                    "batch failed, applying its records one by one",
                    extra={
                        **_where(batch[0][1]),
                        "records": len(batch),
                        "error": describe_error(error),
                    },
                )
                return batch
            for _, record in batch:
                self._count(record, "processed")
            BATCH_SIZES.labels(self._group_id).observe(len(batch))
            return []
        return []

    async def _read(self, record: RecordContext) -> Event | None:
        """The record as an event; None when it is malformed (then it is parked at once)."""
        try:
            return from_record(record.key, record.value, record.headers)
        except MalformedEventError as error:
            logger.error(
                "malformed record parked", extra={**_where(record), "error": describe_error(error)}
            )
            await self._dead_letters.park(
                record, reason=DeadLetterReason.MALFORMED, error=error, attempts=0
            )
            self._count(record, "dead-lettered")
            return None

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        # consume(n, timeout) waits out the whole timeout unless n records arrive, which held a
        # lone record back for up to poll_timeout on every hop: wait for the first record only,
        # then take what is already fetched without waiting.
        first = consumer.poll(self._poll_timeout)
        if first is None:
            return []
        return [first, *consumer.consume(max(self._batch_size - 1, 1), 0)]

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        logger.info(
            "partitions assigned", extra={"group": self._group_id, "partitions": len(partitions)}
        )

    async def _apply(self, event: Event, record: RecordContext) -> None:
        if not self._tracing.enabled:
            with timed(self._group_id, record.topic):
                await self._apply_with_retries(event, record)
            return
        with (
            self._tracing.span(
                f"process {record.topic}",
                parent=event.traceparent,
                kind=SpanKind.CONSUMER,
                attributes=record_attributes(self._group_id, event, record),
            ) as traceparent,
            timed(self._group_id, record.topic),
        ):
            await self._apply_with_retries(event.with_traceparent(traceparent), record)

    async def _apply_with_retries(self, event: Event, record: RecordContext) -> None:
        log = {**_where(record), "ce_id": event.id}
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._handler(event, record)
                self._count(record, "processed")
                return
            except self._permanent_errors as error:
                logger.error(
                    "permanent failure, record parked",
                    extra={**log, "error": describe_error(error)},
                )
                await self._dead_letters.park(
                    record, reason=DeadLetterReason.PERMANENT_FAILURE, error=error, attempts=attempt
                )
            except Exception as error:
                if is_outage(error):
                    await self._wait_out_outage(log, attempt, error)
                    attempt -= 1  # an outage does not use up the record's attempts
                    continue
                if attempt < self._retry.attempts:
                    delay = self._retry.backoff(attempt)
                    logger.warning(
                        "handler failed, retrying",
                        extra={
                            **log,
                            "attempt": attempt,
                            "delay": delay,
                            "error": describe_error(error),
                        },
                    )
                    await asyncio.sleep(delay)
                    continue
                logger.error(
                    "retries exhausted, record parked",
                    extra={**log, "error": describe_error(error)},
                )
                await self._dead_letters.park(
                    record, reason=DeadLetterReason.RETRIES_EXHAUSTED, error=error, attempts=attempt
                )
            self._count(record, "dead-lettered")
            return

    async def _wait_out_outage(self, log: dict[str, Any], attempt: int, error: Exception) -> None:
        delay = self._retry.max_backoff_seconds
        logger.warning(
            "database or network unavailable, waiting",
            extra={**log, "attempt": attempt, "delay": delay, "error": describe_error(error)},
        )
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except TimeoutError:
            return
        raise _StopRequestedError

    def _count(self, record: RecordContext, outcome: str) -> None:
        RECORDS.labels(self._group_id, record.topic, outcome).inc()


def _context(message: Message) -> RecordContext:
    return RecordContext(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp=message.timestamp()[1],
        key=message.key(),
        value=message.value(),
        headers=list(message.headers() or []),
    )


def _where(record: RecordContext) -> dict[str, Any]:
    # A log line's fields only (not mutated: no behaviour reads them).
    where = {"topic": record.topic, "partition": record.partition}  # pragma: no mutate
    return {**where, "offset": record.offset}  # pragma: no mutate


def _advance(processed: dict[tuple[str, int], int], record: RecordContext) -> None:
    """``record`` is done: its partition's offset to commit is past it (a partition's records
    come in offset order)."""
    processed[(record.topic, record.partition)] = record.offset


def _by_topic(messages: Sequence[Message]) -> list[list[Message]]:
    """The poll's records grouped by topic, each partition's in offset order; errors logged.

    A topic's records from every partition are one batch (one transaction): a transaction per
    partition made the reply consumer's poll six transactions in a row at 5x overload, each
    waiting its turn on the event loop, and a reply waited for the partitions before its own.

    A fatal error ends the run (``KafkaException``): librdkafka's consumer never consumes
    again after one, and polling it on would leave the service ready with its consumer dead.
    Seen after a broker restart: a static member was fenced by its own rejoin ("Static consumer
    fenced by other consumer with same group.instance.id"), and Provider Schedule answered no
    booking request until it was restarted three minutes later (make chaos, 2026-12-03). The
    supervisor then starts a new consumer, which rejoins under the same instance id; nothing
    of this poll is processed or committed, so it comes again."""
    groups: dict[str, list[Message]] = {}
    for message in messages:
        if (error := message.error()) is not None:
            # A fatal error reaches a poll as an error of code _FATAL whose fatal() is False.
            if error.code() == KafkaError._FATAL or error.fatal():
                raise KafkaException(error)
            if error.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error", extra={"error": str(error)})
            continue
        groups.setdefault(message.topic(), []).append(message)
    return list(groups.values())


_T = TypeVar("_T")


def _commit_and_observe_lag(
    consumer: Consumer, group_id: str, offsets: list[TopicPartition]
) -> None:
    consumer.commit(offsets=offsets, asynchronous=False)
    observe_lag(consumer, group_id, offsets)


def _holding(lock: threading.Lock, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    with lock:
        return call(*args, **kwargs)
