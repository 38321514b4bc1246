"""The consumer runner's loop with a fake Kafka client: what it polls, what it commits and when,
and how it configures the client. Kafka's side of the same claims (offsets committed only after
the effects, a crash redelivering) is tests/integration/eventing/test_batched_consumer.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner, RetryPolicy, _StopRequestedError
from eventing.consumer_types import BatchHandler, PermanentError, RecordContext, RecordHandler
from eventing.membership import fast_resume_config
from eventing.producer import LIBRDKAFKA_LOGGER
from eventing.supervision import supervised
from tests.unit.eventing.test_consumer_outcomes import FakeMessage, FakeProducer


class PartitionMessage(FakeMessage):
    def __init__(self, event: Event, partition: int, offset: int) -> None:
        super().__init__(event, offset)
        self._partition = partition

    def partition(self) -> int:
        return self._partition


class ErrorMessage:
    def __init__(self, code: int) -> None:
        # As librdkafka hands a fatal error to a poll: code _FATAL, but fatal() False.
        self._error = KafkaError(code)

    def error(self) -> KafkaError:
        return self._error


class FakeConsumer:
    """Hands out the queued polls, then stops the runner; records every call."""

    instances: list[FakeConsumer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.polls: list[list[Any]] = []
        self.calls: list[tuple[str, Any]] = []
        self.commits: list[list[tuple[str, int, int]]] = []
        self.closed = False
        self.stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        FakeConsumer.instances.append(self)

    def subscribe(self, topics: list[str], on_assign: Any) -> None:
        self.calls.append(("subscribe", topics))
        on_assign(self, [TopicPartition(topics[0], 0)])

    def poll(self, timeout: float) -> Any:
        self.calls.append(("poll", timeout))
        if not self.polls:
            assert self.stop is not None
            assert self.loop is not None
            self.loop.call_soon_threadsafe(self.stop.set)
            return None
        self._current = self.polls.pop(0)
        return self._current[0] if self._current else None

    def consume(self, count: int, timeout: float) -> list[Any]:
        self.calls.append(("consume", (count, timeout)))
        return self._current[1:]

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False, "a commit must be done before the next poll"
        self.commits.append([(o.topic, o.partition, o.offset) for o in offsets])

    def get_watermark_offsets(self, partition: TopicPartition, cached: bool) -> tuple[int, int]:
        return 0, 100

    def close(self) -> None:
        self.closed = True


def _events(count: int) -> list[Event]:
    return [Event.new(source="/t", type="T", data={"n": n}, key=f"k{n}") for n in range(count)]


async def _run(
    polls: list[list[Any]],
    *,
    batch_size: int = 500,
    fail_on: frozenset[str] = frozenset(),
    handler: RecordHandler | None = None,
    batch_handler: BatchHandler | None = None,
) -> tuple[FakeConsumer, list[str], ConsumerRunner]:
    handled: list[str] = []

    async def recording(event: Event, _: RecordContext) -> None:
        if event.id in fail_on:
            raise ValueError("not for this record")
        handled.append(event.id)

    runner = ConsumerRunner(
        client_config={"bootstrap.servers": "fake:9092"}, group_id="g", topics=["things", "more"],
        handler=handler or recording, producer=FakeProducer(),  # type: ignore[arg-type]
        batch_handler=batch_handler,
        retry=RetryPolicy(attempts=1, max_backoff_seconds=0.001), batch_size=batch_size,
        poll_timeout=0.25,
    )  # fmt: skip
    stop = asyncio.Event()
    with _fake_consumers([polls], stop):
        await asyncio.wait_for(runner.run(stop), 10)
    [consumer] = FakeConsumer.instances
    return consumer, handled, runner


@contextlib.contextmanager
def _fake_consumers(polls_of_each: list[list[list[Any]]], stop: asyncio.Event) -> Iterator[None]:
    """The runner's consumers are fakes; the n-th one made hands out the n-th list of polls."""
    FakeConsumer.instances.clear()
    original_init = FakeConsumer.__init__
    loop = asyncio.get_running_loop()

    def init(consumer: FakeConsumer, config: dict[str, Any]) -> None:
        original_init(consumer, config)
        consumer.polls, consumer.stop, consumer.loop = list(polls_of_each.pop(0)), stop, loop

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeConsumer, "__init__", init)
        patch.setattr("eventing.consumer.Consumer", FakeConsumer)
        yield


async def test_each_partitions_next_offset_is_committed_after_its_records_are_processed() -> None:
    a, b, c = _events(3)
    poll = [
        PartitionMessage(a, 0, 10),
        PartitionMessage(b, 1, 4),
        ErrorMessage(KafkaError._PARTITION_EOF),
        PartitionMessage(c, 0, 11),
    ]
    consumer, handled, runner = await _run([poll])
    assert handled == [a.id, b.id, c.id], "as they came, each partition's in offset order"
    assert consumer.commits == [[("things", 0, 12), ("things", 1, 5)]]
    assert consumer.closed
    assert runner.assigned.is_set()


async def test_a_topics_records_from_every_partition_are_one_batch() -> None:
    a, b, c = _events(3)
    batches: list[list[tuple[str, int]]] = []

    async def batch_handler(batch: Sequence[tuple[Event, RecordContext]]) -> None:
        batches.append([(event.id, record.partition) for event, record in batch])

    poll = [PartitionMessage(a, 0, 10), PartitionMessage(b, 1, 4), PartitionMessage(c, 0, 11)]
    consumer, handled, _ = await _run([poll], batch_handler=batch_handler)
    assert batches == [[(a.id, 0), (b.id, 1), (c.id, 0)]]
    assert handled == []
    assert consumer.commits == [[("things", 0, 12), ("things", 1, 5)]]


async def test_a_poll_waits_for_the_first_record_then_takes_what_is_fetched() -> None:
    a, b = _events(2)
    consumer, handled, _ = await _run([[PartitionMessage(a, 0, 1), PartitionMessage(b, 0, 2)]])
    assert consumer.calls[:3] == [
        ("subscribe", ["things", "more"]),
        ("poll", 0.25),
        ("consume", (499, 0)),
    ]
    assert handled == [a.id, b.id]


async def test_a_batch_size_of_one_still_consumes_at_least_one_more() -> None:
    consumer, _, _ = await _run([[PartitionMessage(_events(1)[0], 0, 1)]], batch_size=1)
    assert ("consume", (1, 0)) in consumer.calls


async def test_an_empty_poll_commits_nothing_and_an_error_alone_commits_nothing() -> None:
    consumer, handled, _ = await _run([[], [ErrorMessage(KafkaError._TRANSPORT)]])
    assert consumer.commits == []
    assert handled == []


async def test_a_fatal_error_ends_the_run_and_the_supervisor_rejoins_with_a_new_consumer() -> None:
    """After a broker restart a static member can be fenced for good (make chaos, 2026-12-03):
    the runner must not go on polling a consumer that will never consume again."""
    a, b = _events(2)
    fenced = ErrorMessage(KafkaError._FATAL)
    polls_of_each_consumer = [
        [[PartitionMessage(a, 0, 1), fenced]],
        [[PartitionMessage(a, 0, 1), PartitionMessage(b, 0, 2)]],
    ]
    handled: list[str] = []

    async def recording(event: Event, _: RecordContext) -> None:
        handled.append(event.id)

    runner = ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=recording,
        producer=FakeProducer(),  # type: ignore[arg-type]
    )  # fmt: skip
    stop = asyncio.Event()
    with _fake_consumers(polls_of_each_consumer, stop):
        await asyncio.wait_for(supervised("consumer", runner.run, stop, backoff=(0.01,)), 10)

    first, second = FakeConsumer.instances
    assert first.closed
    assert first.commits == [], "nothing of the poll with the fatal error is committed"
    assert handled == [a.id, b.id], "the record before the error comes again, once"
    assert second.commits == [[("things", 0, 3)]]


async def test_a_parked_record_is_committed_past_like_a_processed_one() -> None:
    a, b = _events(2)
    consumer, handled, _ = await _run(
        [[PartitionMessage(a, 0, 1), PartitionMessage(b, 0, 2)]], fail_on=frozenset({a.id})
    )
    assert handled == [b.id]
    assert consumer.commits == [[("things", 0, 3)]]


async def test_offsets_are_committed_by_hand_from_the_earliest_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSUMER_INSTANCE_ID", "pod-1")
    consumer, _, _ = await _run([])
    config = consumer.config
    assert config["bootstrap.servers"] == "fake:9092"
    assert config["group.id"] == "g"
    assert config["enable.auto.commit"] is False
    assert config["auto.offset.reset"] == "earliest"
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert config["logger"] is LIBRDKAFKA_LOGGER
    resume = fast_resume_config("g")
    assert {key: config[key] for key in resume} == resume
    assert config["group.instance.id"] == "pod-1/g", "the replica's static identity in its group"


async def test_the_handler_gets_the_records_context_and_a_permanent_failure_is_parked_at_once() -> (
    None
):
    seen: list[RecordContext] = []

    async def handler(_: Event, record: RecordContext) -> None:
        seen.append(record)
        raise PermanentError("this record can never succeed")

    producer = FakeProducer()
    runner = ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler,
        producer=producer, retry=RetryPolicy(attempts=5),  # type: ignore[arg-type]
    )  # fmt: skip
    processed: dict[tuple[str, int], int] = {}
    await runner._handle_records([FakeMessage(_events(1)[0], 9)], processed)  # type: ignore[list-item]

    assert [(record.topic, record.offset) for record in seen] == [("things", 9)]
    [(topic, parked)] = producer.sent
    headers = dict(parked.headers)
    assert topic == "things.dlt"
    assert headers["dlt-reason"] == b"permanent-failure"
    assert headers["dlt-exception"] == b"PermanentError"
    assert headers["dlt-attempts"] == b"1"
    assert processed == {("things", 0): 9}


async def test_an_outage_is_waited_out_inside_the_loop_and_the_record_then_committed() -> None:
    calls = 0

    async def handler(event: Event, _: RecordContext) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("database restarting")

    [event] = _events(1)
    consumer, _, _ = await _run([[PartitionMessage(event, 0, 3)]], handler=handler)
    assert calls == 2
    assert consumer.commits == [[("things", 0, 4)]]


async def test_stopping_between_records_still_commits_the_ones_processed() -> None:
    a, b = _events(2)

    async def handler(event: Event, _: RecordContext) -> None:
        stop = FakeConsumer.instances[0].stop
        assert stop is not None
        stop.set()  # asked to stop while the first record is applied

    consumer, _, _ = await _run(
        [[PartitionMessage(a, 0, 3), PartitionMessage(b, 1, 8)]], handler=handler
    )
    assert consumer.commits == [[("things", 0, 4)]]
    assert consumer.closed


async def test_outages_do_not_use_up_a_records_attempts() -> None:
    calls = 0

    async def handler(_: Event, __: RecordContext) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionResetError("database restarting")
        raise ValueError("the record's own failure")

    producer = FakeProducer()
    runner = ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler,
        producer=producer,  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=3, initial_backoff_seconds=0, max_backoff_seconds=0.001),
    )  # fmt: skip
    await runner._handle_records([FakeMessage(_events(1)[0])], {})  # type: ignore[list-item]
    assert calls == 2 + 3
    [(_, parked)] = producer.sent
    assert dict(parked.headers)["dlt-attempts"] == b"3"


async def test_stopping_while_a_failed_batch_is_applied_record_by_record_keeps_the_done_ones() -> (
    None
):
    a, b = _events(2)
    stop = asyncio.Event()

    async def batch_handler(_: object) -> None:
        raise ValueError("one of them is at fault")

    async def handler(event: Event, _: RecordContext) -> None:
        if event.id == b.id:
            stop.set()
            raise ConnectionResetError("database gone while stopping")

    runner = ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler,
        producer=FakeProducer(), batch_handler=batch_handler,  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=1, max_backoff_seconds=5),
    )  # fmt: skip
    runner._stop = stop
    processed: dict[tuple[str, int], int] = {}
    with pytest.raises(_StopRequestedError):
        await runner._handle_records([FakeMessage(a, 3), FakeMessage(b, 4)], processed)  # type: ignore[list-item]
    assert processed == {("things", 0): 3}
