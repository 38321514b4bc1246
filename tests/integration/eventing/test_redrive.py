"""`careplan dlt` against the real broker: a record parked by the consumer runner is listed,
shown, replayed once (however often the replay is asked for) and processed once; purge keeps
what was not replayed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from contract.topics import dead_letter_topic
from devstack.cli import app
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, to_record
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.consumer_types import RecordContext
from eventing.parked import REPLAYED_FROM_HEADER, Selection
from eventing.producer import AsyncProducer
from eventing.redrive import Redrive
from tests.support.kafka import read_all, unique_topic

pytestmark = pytest.mark.integration


class DownstreamBroken(Exception):
    """What the handler fails with until the test 'fixes the cause'."""


@dataclass
class Downstream:
    broken: bool = True
    applied: list[str] = field(default_factory=list)
    replays_seen: list[str] = field(default_factory=list)

    async def handle(self, event: Event, record: RecordContext) -> None:
        if self.broken:
            raise DownstreamBroken("the downstream store refuses writes")
        self.applied.append(event.id)
        headers = dict(record.headers)
        if REPLAYED_FROM_HEADER in headers:
            self.replays_seen.append(headers[REPLAYED_FROM_HEADER].decode())


@dataclass
class Parking:
    topic: str
    downstream: Downstream
    settings: DevstackSettings


@pytest.fixture
async def parking(infrastructure: DevstackSettings) -> AsyncIterator[Parking]:
    """A topic consumed by a runner whose handler fails (and parks) until fixed."""
    topic = unique_topic(infrastructure, "redrive", partitions=1)
    config = {"bootstrap.servers": infrastructure.bootstrap_servers}
    downstream = Downstream()
    producer = AsyncProducer(config)
    runner = ConsumerRunner(
        client_config=config,
        group_id=f"redrive-{topic}",
        topics=[topic],
        handler=downstream.handle,
        producer=producer,
        retry=RetryPolicy(attempts=2, initial_backoff_seconds=0.01),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield Parking(topic, downstream, infrastructure)
    finally:
        stop.set()
        await task
        producer.close()


def _dlt(settings: DevstackSettings, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        ["dlt", *args],
        env={"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result.output


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_parked_record_is_replayed_once_and_processed_once(parking: Parking) -> None:
    settings, topic = parking.settings, parking.topic
    event = Event.new(source="/test", type="DOOMED", data={"n": 1}, key="entity-1")
    record = to_record(event)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.flush(10)
    dlt = dead_letter_topic(topic)
    redrive = Redrive({"bootstrap.servers": settings.bootstrap_servers})
    await _until(lambda: redrive.depth(dlt) == 1, "the record parked")

    listed = await asyncio.to_thread(_dlt, settings, "list", topic)
    assert "retries-exhausted" in listed
    assert "DownstreamBroken" in listed
    shown = await asyncio.to_thread(_dlt, settings, "show", dlt, "0:0")
    assert f"ce_id: {event.id}" in shown
    assert '"n": 1' in shown

    parking.downstream.broken = False  # the cause is fixed
    first = await asyncio.to_thread(_dlt, settings, "replay", topic, "--all")
    second = await asyncio.to_thread(_dlt, settings, "replay", topic, "--all")
    assert "Replayed 1 record(s)" in first
    assert "Replayed 0 record(s)" in second
    assert "1 replayed before" in second

    await _until(lambda: parking.downstream.applied == [event.id], "the replay applied")
    on_topic = await asyncio.to_thread(read_all, settings, topic, expect=2)
    replays = [m for m in on_topic if REPLAYED_FROM_HEADER in dict(m.headers() or [])]
    assert len(replays) == 1
    [replayed] = replays
    assert (replayed.key(), replayed.value()) == (record.key, record.value)
    assert dict(replayed.headers())["ce_id"] == event.id.encode()
    assert not any(name.startswith("dlt-reason") for name, _ in replayed.headers())
    assert parking.downstream.replays_seen == [f"{dlt}:0:0"]
    assert parking.downstream.applied == [event.id]


async def test_replay_by_reason_and_purge_keep_what_was_not_replayed(parking: Parking) -> None:
    settings, topic = parking.settings, parking.topic
    dlt = dead_letter_topic(topic)
    event = Event.new(source="/test", type="DOOMED", data={"n": 2}, key="k")
    record = to_record(event)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.produce(topic, key=b"k", value=b"{not json")
    producer.flush(10)
    redrive = Redrive({"bootstrap.servers": settings.bootstrap_servers})
    await _until(lambda: redrive.depth(dlt) == 2, "both records parked")
    parking.downstream.broken = False

    replayed = redrive.replay(dlt, Selection(reason="retries-exhausted"))
    assert [r.offset for r in replayed.to_replay] == [0]

    assert redrive.purge(dlt, only_replayed=True) == 1
    [left] = redrive.parked(dlt)
    assert left.reason == "malformed"
    assert redrive.purge(dlt, only_replayed=False) == 1
    assert redrive.depth(dlt) == 0
    await _until(lambda: parking.downstream.applied == [event.id], "the replay applied")


def test_dlt_commands_say_in_one_line_when_kafka_is_away(
    devstack_settings: DevstackSettings,
) -> None:
    result = CliRunner().invoke(
        app, ["dlt", "list"], env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "did not answer" in result.output
    assert "careplan up" in result.output
