"""A malformed record and a record whose handler always fails both end in the DLT, with
headers saying why, and the records behind them are processed."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import Producer

from contract.topics import dead_letter_topic
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, to_record
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.consumer_types import RecordContext as Context
from eventing.producer import AsyncProducer
from tests.support.kafka import read_to_end, unique_topic

pytestmark = pytest.mark.integration


class AlwaysFails(Exception):
    """A downstream failure that no retry can cure."""


async def test_malformed_and_failing_records_are_parked_and_the_rest_processed(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "dead-letters", partitions=1)
    good_before = Event.new(source="/test", type="GOOD", data={"n": 1}, key="k")
    doomed = Event.new(source="/test", type="DOOMED", data={"n": 2}, key="k")
    good_after = Event.new(source="/test", type="GOOD", data={"n": 3}, key="k")
    # Idempotent: a retried request cannot land behind a later one (the order is asserted).
    producer = Producer(
        {"bootstrap.servers": infrastructure.bootstrap_servers, "enable.idempotence": True}
    )
    for event in (good_before,):
        _produce(producer, topic, event)
    producer.produce(topic, key=b"k", value=b"{not json", headers=[("x-origin", b"fuzzer")])
    _produce(producer, topic, doomed)
    _produce(producer, topic, good_after)
    producer.flush(10)

    processed: list[str] = []
    attempts: dict[str, int] = {}

    async def handler(event: Event, _: Context) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        if event.type == "DOOMED":
            raise AlwaysFails("downstream is down for good")
        processed.append(event.id)

    async_producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    runner = ConsumerRunner(
        client_config={"bootstrap.servers": infrastructure.bootstrap_servers},
        group_id=f"dlt-test-{topic}",
        topics=[topic],
        handler=handler,
        producer=async_producer,
        retry=RetryPolicy(attempts=3, initial_backoff_seconds=0.01),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + 30
    while good_after.id not in processed and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await task
    async_producer.close()

    assert processed == [good_before.id, good_after.id]
    assert attempts[doomed.id] == 3

    parked = await asyncio.to_thread(read_to_end, infrastructure, dead_letter_topic(topic))
    assert len(parked) == 2
    malformed, failed = sorted(parked, key=lambda m: m.offset())
    malformed_headers = dict(malformed.headers())
    assert malformed.value() == b"{not json"
    assert malformed.key() == b"k"
    assert malformed_headers["x-origin"] == b"fuzzer"
    assert malformed_headers["dlt-reason"] == b"malformed"
    assert malformed_headers["dlt-original-topic"] == topic.encode()
    assert malformed_headers["dlt-original-offset"] == b"1"
    failed_headers = dict(failed.headers())
    assert failed_headers["dlt-reason"] == b"retries-exhausted"
    assert failed_headers["dlt-exception"] == b"AlwaysFails"
    assert failed_headers["dlt-attempts"] == b"3"
    assert failed_headers["ce_id"] == doomed.id.encode()
    assert failed.value() == to_record(doomed).value


def _produce(producer: Producer, topic: str, event: Event) -> None:
    record = to_record(event)
    producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
