"""A consumer that Kafka fences for good ends its run, on the real broker, so that the
supervisor starts a new one: librdkafka's consumer never consumes again after a fatal error.

Seen in make chaos (2026-12-03): after a broker restart a static member was fenced by its own
rejoin, and Provider Schedule, still ready, answered no booking request for three minutes. A
broker restart does not fence every time; a second member under the same ``group.instance.id``
(what a replacement replica is) fences the first one every time, with the same fatal error.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException

from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner
from eventing.consumer_types import RecordContext
from eventing.membership import fast_resume_config
from eventing.producer import AsyncProducer
from tests.support.kafka import unique_topic

pytestmark = pytest.mark.integration


async def _ignore(_: Event, __: RecordContext) -> None:
    return None


def _join_and_poll(consumer: Consumer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        consumer.poll(0.2)


async def test_a_consumer_fenced_by_its_own_instance_id_ends_its_run(
    infrastructure: DevstackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = unique_topic(infrastructure, "fenced")
    group = f"fenced-{uuid.uuid4().hex[:8]}"
    client = {"bootstrap.servers": infrastructure.bootstrap_servers}
    monkeypatch.setenv("CONSUMER_INSTANCE_ID", "replica-0")
    runner = ConsumerRunner(
        client_config=client, group_id=group, topics=[topic], handler=_ignore,
        producer=AsyncProducer(client),
    )  # fmt: skip
    stop = asyncio.Event()
    run = asyncio.create_task(runner.run(stop))
    newer = Consumer(
        {
            **client,
            "group.id": group,
            "log_level": 0,
            # The runner's strategy: with another one the broker refuses the newer member.
            "partition.assignment.strategy": "cooperative-sticky",
            **fast_resume_config(group),
        }
    )
    try:
        await asyncio.wait_for(runner.assigned.wait(), 60)
        newer.subscribe([topic])
        joining = asyncio.create_task(asyncio.to_thread(_join_and_poll, newer, 20))
        with pytest.raises(KafkaException) as ended:
            await asyncio.wait_for(run, 60)
        await joining
    finally:
        stop.set()
        newer.close()
    assert ended.value.args[0].code() == KafkaError._FATAL, str(ended.value)
