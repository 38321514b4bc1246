"""How the consumer runner settles one record, with a fake record and a fake producer: the DLT
routing decisions, not Kafka itself (that is tests/integration/eventing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from eventing.cloudevents import Event, to_record
from eventing.consumer import ConsumerRunner, RetryPolicy, _StopRequestedError
from eventing.consumer_types import RecordContext
from eventing.producer import AsyncProducer


class FakeMessage:
    def __init__(self, event: Event) -> None:
        self._record = to_record(event)

    def topic(self) -> str:
        return "things"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

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


def _runner(handler: Any, producer: FakeProducer) -> ConsumerRunner:
    fake: AsyncProducer = producer  # type: ignore[assignment]
    return ConsumerRunner(
        client_config={}, group_id="g", topics=["things"], handler=handler, producer=fake,
        retry=RetryPolicy(attempts=3, initial_backoff_seconds=0, max_backoff_seconds=0.01),
    )  # fmt: skip


EVENT = Event.new(source="/test", type="THING", data={"n": 1}, key="k")


async def test_a_database_outage_longer_than_the_retries_does_not_park_the_record() -> None:
    calls = 0

    async def handler(_: Event, __: RecordContext) -> None:
        nonlocal calls
        calls += 1
        if calls <= 10:
            raise OperationalError("select 1", {}, ConnectionRefusedError("database down"))

    producer = FakeProducer()
    await _runner(handler, producer)._process(FakeMessage(EVENT))  # type: ignore[arg-type]

    assert calls == 11
    assert producer.sent == []


async def test_a_failure_of_the_record_itself_is_parked_after_the_retries() -> None:
    async def handler(_: Event, __: RecordContext) -> None:
        raise ZeroDivisionError("a bug this record triggers")

    producer = FakeProducer()
    await _runner(handler, producer)._process(FakeMessage(EVENT))  # type: ignore[arg-type]

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

    with pytest.raises(_StopRequestedError):
        await runner._process(FakeMessage(EVENT))  # type: ignore[arg-type]

    assert producer.sent == []
