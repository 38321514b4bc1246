"""The relay dies between the broker's acknowledgement and marking the rows: the effect on the
consuming side still happens exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import text

from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner
from eventing.database import Connection
from eventing.inbox import Inbox, idempotent
from eventing.outbox import Outbox
from eventing.producer import AsyncProducer
from tests.support.database import isolated_schema, until_outbox_published
from tests.support.kafka import read_to_end, unique_topic

pytestmark = pytest.mark.integration
RELAY = Path(__file__).with_name("relay_process.py")


def _start_relay(
    settings: DevstackSettings, dsn: str, schema: str, signal_file: Path, *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(RELAY),
            dsn,
            schema,
            settings.bootstrap_servers,
            str(signal_file),
            *extra,
        ]
    )


def _wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


async def test_relay_killed_after_ack_before_mark_yields_one_effect(
    infrastructure: DevstackSettings, tmp_path: Path
) -> None:
    topic = unique_topic(infrastructure, "relay-crash")
    async with isolated_schema(infrastructure, "relay_crash") as schema:
        events = [
            Event.new(source="/test", type="THING_HAPPENED", data={"n": n}, key=f"k{n % 7}")
            for n in range(50)
        ]
        async with schema.database.transaction() as connection:
            await Outbox(schema.outbox).add(connection, topic, events)

        first = tmp_path / "first"
        relay = _start_relay(infrastructure, schema.dsn, schema.name, first, "--pause-before-mark")
        acknowledged = json.loads(await asyncio.to_thread(_wait_for_file, first))
        os.kill(relay.pid, signal.SIGKILL)
        relay.wait()
        assert len(acknowledged) == 50
        async with schema.engine.connect() as connection:
            unmarked = await connection.scalar(
                text(f'select count(*) from "{schema.name}".outbox where published_at is null')
            )
        assert unmarked == 50, "the kill must land before the rows were marked"

        second = tmp_path / "second"
        relay = _start_relay(infrastructure, schema.dsn, schema.name, second)
        try:
            await until_outbox_published(schema)
            on_topic = await asyncio.to_thread(read_to_end, infrastructure, topic)
            assert len(on_topic) == 100, "every event was published twice: once per relay run"
            assert len({dict(m.headers())["ce_id"] for m in on_topic}) == 50

            applied = await _consume_into_effects(infrastructure, schema, topic, expected=50)
        finally:
            relay.kill()
            relay.wait()
        assert applied == {event.id: 1 for event in events}


def _committed_to_end(settings: DevstackSettings, runner: ConsumerRunner, topic: str) -> bool:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": runner.group_id, "log_level": 0})  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        wanted = [TopicPartition(topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=5)}
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=5)[1] for tp in wanted}
    finally:
        consumer.close()
    return all(committed[p] >= end for p, end in ends.items() if end > 0)


async def _consume_into_effects(
    settings: DevstackSettings, schema, topic: str, expected: int
) -> dict[str, int]:
    async def apply(connection: Connection, event: Event) -> None:
        await connection.execute(
            f'insert into "{schema.name}".effects (event_id, applied) values ($1, 1)', event.id
        )

    producer = AsyncProducer({"bootstrap.servers": settings.bootstrap_servers})
    runner = ConsumerRunner(
        client_config={"bootstrap.servers": settings.bootstrap_servers},
        group_id=f"effects-{schema.name}",
        topics=[topic],
        handler=idempotent(schema.database, Inbox(schema.inbox, "effects"), apply),
        producer=producer,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with schema.engine.connect() as connection:
                count = await connection.scalar(text(f'select count(*) from "{schema.name}".inbox'))
            if count >= expected:
                break
            await asyncio.sleep(0.2)
        # The duplicates behind the first copies are consumed too: wait until the group has
        # committed every record of the topic.
        while time.monotonic() < deadline and not _committed_to_end(settings, runner, topic):
            await asyncio.sleep(0.2)
        assert _committed_to_end(settings, runner, topic), "not every record was consumed"
    finally:
        stop.set()
        await task
        producer.close()
    async with schema.engine.connect() as connection:
        rows = await connection.execute(
            text(f'select event_id, sum(applied) from "{schema.name}".effects group by event_id')
        )
        return {row[0]: int(row[1]) for row in rows}
