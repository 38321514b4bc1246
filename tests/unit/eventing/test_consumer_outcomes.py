"""How the consumer runner settles one record, with a fake record and a fake producer: the DLT
routing decisions, not Kafka itself (that is tests/integration/eventing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asyncpg.exceptions import ConnectionDoesNotExistError

from eventing.cloudevents import Event, to_record
from eventing.consumer import ConsumerRunner, RetryPolicy, _StopRequestedError
from eventing.consumer_types import RecordContext
from eventing.producer import AsyncProducer


class FakeMessage:
    def __init__(self, event: Event, offset: int = 7) -> None:
        self._record = to_record(event)
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "things"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes:
        return self._record.value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._record.headers


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_and_wait(self, topic: str, record: Any) -> None:
        self.sent.append((topic, record))


def _runner(handler: Any, producer: FakeProducer, batch_handler: Any = None) -> ConsumerRunner:
    fake: AsyncProducer = producer  # type: ignore[assignment]
    return ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler, producer=fake,
        retry=RetryPolicy(attempts=3, initial_backoff_seconds=0, max_backoff_seconds=0.01),
        batch_handler=batch_handler,
    )  # fmt: skip


async def _handle(runner: ConsumerRunner, *messages: FakeMessage) -> dict[tuple[str, int], int]:
    processed: dict[tuple[str, int], int] = {}
    await runner._handle_records(list(messages), processed)  # type: ignore[arg-type]
    return processed


EVENT = Event.new(source="/test", type="THING", data={"n": 1}, key="k")


async def test_a_database_outage_longer_than_the_retries_does_not_park_the_record() -> None:
    calls = 0

    async def handler(_: Event, __: RecordContext) -> None:
        nonlocal calls
        calls += 1
        if calls <= 10:
            raise ConnectionDoesNotExistError("connection was closed in the middle of operation")

    producer = FakeProducer()
    processed = await _handle(_runner(handler, producer), FakeMessage(EVENT))

    assert calls == 11
    assert producer.sent == []
    assert processed == {("things", 0): 7}


async def test_a_failure_of_the_record_itself_is_parked_after_the_retries() -> None:
    async def handler(_: Event, __: RecordContext) -> None:
        raise ZeroDivisionError("a bug this record triggers")

    producer = FakeProducer()
    await _handle(_runner(handler, producer), FakeMessage(EVENT))

    [(topic, parked)] = producer.sent
    assert topic == "things.dlt"
    assert dict(parked.headers)["dlt-reason"] == b"retries-exhausted"
    assert dict(parked.headers)["dlt-attempts"] == b"3"


async def test_stopping_during_an_outage_leaves_the_record_uncommitted_and_unparked() -> None:
    async def handler(_: Event, __: RecordContext) -> None:
        raise ConnectionResetError("network gone")

    producer = FakeProducer()
    runner = _runner(handler, producer)
    stop = asyncio.Event()
    runner._stop = stop
    stop.set()

    processed: dict[tuple[str, int], int] = {}
    with pytest.raises(_StopRequestedError):
        await runner._handle_records([FakeMessage(EVENT)], processed)  # type: ignore[list-item]

    assert producer.sent == []
    assert processed == {}


def _events(count: int) -> list[Event]:
    return [
        Event.new(source="/test", type="THING", data={"n": n}, key=f"k{n}") for n in range(count)
    ]


async def test_a_batch_is_applied_in_one_call_in_offset_order() -> None:
    events = _events(5)
    batches: list[list[str]] = []

    async def single(_: Event, __: RecordContext) -> None:
        raise AssertionError("the batch handler applies these")

    async def batch(records: list[tuple[Event, RecordContext]]) -> None:
        batches.append([event.id for event, _ in records])

    producer = FakeProducer()
    runner = _runner(single, producer, batch)
    processed = await _handle(runner, *(FakeMessage(e, offset=n) for n, e in enumerate(events)))

    assert batches == [[event.id for event in events]]
    assert processed == {("things", 0): 4}
    assert producer.sent == []


async def test_a_failed_batch_falls_back_to_records_and_parks_only_the_poison() -> None:
    events = _events(4)
    poison = events[2].id
    applied: list[str] = []

    async def single(event: Event, _: RecordContext) -> None:
        if event.id == poison:
            raise ZeroDivisionError("this record is at fault")
        applied.append(event.id)

    async def batch(records: list[tuple[Event, RecordContext]]) -> None:
        for event, record in records:
            await single(event, record)  # one transaction in real life: rolled back on error
        raise AssertionError("unreachable: the poison record raises first")

    producer = FakeProducer()
    runner = _runner(single, producer, batch)
    processed = await _handle(runner, *(FakeMessage(e, offset=n) for n, e in enumerate(events)))

    # The batch's own partial work is rolled back by its transaction; the fake keeps it, so
    # what the fallback applied is what follows the two records the failed batch got through.
    assert applied[2:] == [events[0].id, events[1].id, events[3].id]
    [(topic, parked)] = producer.sent
    assert topic == "things.dlt"
    assert dict(parked.headers)["ce_id"] == poison.encode()
    assert processed == {("things", 0): 3}


async def test_a_malformed_record_in_a_batch_is_parked_and_the_rest_applied_together() -> None:
    events = _events(3)
    broken = FakeMessage(events[1], offset=1)
    broken._record.headers.clear()  # no CloudEvents attributes: not an event
    batches: list[list[str]] = []

    async def single(_: Event, __: RecordContext) -> None:
        raise AssertionError("the batch handler applies these")

    async def batch(records: list[tuple[Event, RecordContext]]) -> None:
        batches.append([event.id for event, _ in records])

    producer = FakeProducer()
    runner = _runner(single, producer, batch)
    processed = await _handle(
        runner, FakeMessage(events[0], offset=0), broken, FakeMessage(events[2], offset=2)
    )

    assert batches == [[events[0].id, events[2].id]]
    [(topic, parked)] = producer.sent
    assert (topic, dict(parked.headers)["dlt-reason"]) == ("things.dlt", b"malformed")
    headers = dict(parked.headers)
    assert headers["dlt-attempts"] == b"0", "a record that is no event is never applied"
    assert headers["dlt-exception"] == b"MalformedEventError"
    assert headers["dlt-original-partition"] == b"0"
    assert headers["dlt-original-offset"] == b"1"
    assert headers["dlt-original-timestamp"] == b"1700000000000"
    assert processed == {("things", 0): 2}


async def test_a_batch_waits_out_a_database_outage_and_then_applies_once() -> None:
    events = _events(3)
    calls = 0

    async def single(_: Event, __: RecordContext) -> None:
        raise AssertionError("an outage is no reason to fall back")

    async def batch(records: list[tuple[Event, RecordContext]]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionRefusedError("database restarting")

    producer = FakeProducer()
    runner = _runner(single, producer, batch)
    processed = await _handle(runner, *(FakeMessage(e, offset=n) for n, e in enumerate(events)))

    assert calls == 3
    assert processed == {("things", 0): 2}
    assert producer.sent == []
