"""Outages at exact points, through the test platform's launcher: PostgreSQL stopped inside a
consumer's transaction and under the relay's leader lock, Kafka stopped while the relay
publishes. Nothing is lost, nothing is applied twice, each key keeps its order.

They stop and restart Kafka and PostgreSQL of a platform of their own (the session's port
offset + 600, its own state folder), started for this module and stopped after it: the session's
platform serves every other test, whose pooled connections and consumers an outage would break.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

import pytest
from confluent_kafka import Producer

from contract.topics import dead_letter_topic
from devstack.kafka import KAFKA
from devstack.platform import Platform
from devstack.postgres import POSTGRES
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, KafkaRecord, to_record
from eventing.consumer import ConsumerRunner, RetryPolicy
from eventing.database import Connection
from eventing.inbox import Inbox, idempotent
from eventing.outbox import Outbox
from eventing.producer import AsyncProducer, DeliveryError
from eventing.relay import OutboxRelay, RelayOptions
from eventing.supervision import supervised
from tests.support.database import IsolatedSchema, isolated_schema, until_outbox_published
from tests.support.kafka import read_to_end, unique_topic, wait_until_committed_to_end

pytestmark = pytest.mark.integration

KEYS = 5
# A restart of Kafka or PostgreSQL on a loaded machine takes a while; these are upper bounds.
OUTAGE_TIMEOUT = 240.0
OFFSET_FROM_SESSION = 600  # test_chaos.py's platform of its own takes + 500


@pytest.fixture(scope="module")
def own_platform(devstack_settings: DevstackSettings) -> Iterator[Platform]:
    offset = devstack_settings.port_offset + OFFSET_FROM_SESSION
    settings = devstack_settings.model_copy(
        update={
            "port_offset": offset,
            "state_dir": devstack_settings.state_dir.with_name(f"test-{offset}"),
        }
    )
    platform = Platform(settings, (KAFKA, POSTGRES))
    platform.down()  # whatever an aborted run left, while its pid files still exist
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    try:
        platform.up()
        yield platform
    finally:
        platform.down()


@pytest.fixture
def infrastructure(own_platform: Platform) -> DevstackSettings:
    """This module's Kafka and PostgreSQL, in place of the session's."""
    return own_platform.settings


def _steps(count: int, first: int = 0) -> list[Event]:
    return [
        Event.new(source="/test", type="STEP", data={"seq": n}, key=f"k{n % KEYS}")
        for n in range(first, first + count)
    ]


async def _write(schema: IsolatedSchema, topic: str, events: list[Event]) -> None:
    async with schema.database.transaction() as connection:
        await Outbox(schema.outbox).add(connection, topic, events)


def _assert_complete_and_in_key_order(
    records: list, events: list[Event], may_repeat: set[str]
) -> None:
    """Every event is on the topic; only ``may_repeat`` (sent while the fault hit) appear
    twice; the last copy of each key's events comes in the order they were written."""
    ids = [dict(r.headers())["ce_id"].decode() for r in records]
    assert set(ids) == {e.id for e in events}, "an event was lost"
    doubled = {ce_id for ce_id, n in Counter(ids).items() if n > 1}
    assert doubled <= may_repeat, f"sent twice without a fault: {doubled - may_repeat}"
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda m: (m.partition(), m.offset())):
        by_key[record.key()].append(json.loads(record.value())["seq"])
    for key, seen in by_key.items():
        last_copies = list(dict.fromkeys(reversed(seen)))[::-1]
        assert last_copies == sorted(last_copies), f"{key!r} out of order: {seen}"


async def test_postgres_stopped_inside_a_consumer_transaction_applies_each_record_once(
    infrastructure: DevstackSettings, own_platform: Platform
) -> None:
    topic = unique_topic(infrastructure, "pg-outage-consumer", partitions=1)
    events = _steps(12)
    producer = Producer({"bootstrap.servers": infrastructure.bootstrap_servers})
    for event in events:
        record = to_record(event)
        producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
    producer.flush(10)
    victim = events[5].id
    restart: list[asyncio.Task[None]] = []

    async with isolated_schema(infrastructure, "consumer_db_outage") as schema:

        async def apply(connection: Connection, event: Event) -> None:
            await connection.execute(
                f'insert into "{schema.name}".effects values ($1, 1)', event.id
            )
            if event.id == victim and not restart:
                # The effect and the inbox mark are written, the commit has not happened yet.
                await asyncio.to_thread(own_platform.down, ["postgres"])
                restart.append(asyncio.create_task(_start(own_platform, "postgres")))

        dead_letters = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
        runner = ConsumerRunner(
            client_config={"bootstrap.servers": infrastructure.bootstrap_servers},
            group_id=f"pg-outage-{topic}",
            topics=[topic],
            handler=idempotent(schema.database, Inbox(schema.inbox, "outage-test"), apply),
            producer=dead_letters,
            # Far fewer attempts than a restart takes: only waiting out the outage, not
            # retrying, can carry the record through it.
            retry=RetryPolicy(attempts=3, initial_backoff_seconds=0.01),
            batch_size=1,
        )
        stop = asyncio.Event()
        consuming = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.to_thread(
                wait_until_committed_to_end,
                infrastructure,
                runner.group_id,
                topic,
                timeout=OUTAGE_TIMEOUT,
            )
        finally:
            stop.set()
            await consuming
            await asyncio.gather(*restart)
            dead_letters.close()
        async with schema.database.connection() as connection:
            rows = await connection.fetch(
                f'select event_id, count(*) as n from "{schema.name}".effects group by event_id'
            )

    assert restart, "the outage was never injected"
    assert {row["event_id"]: row["n"] for row in rows} == {e.id: 1 for e in events}
    parked = await asyncio.to_thread(read_to_end, infrastructure, dead_letter_topic(topic))
    assert parked == [], "a record was parked for an outage it was not at fault for"


async def _start(platform: Platform, part: str) -> None:
    await asyncio.to_thread(platform.up, [part])


class StopsKafkaInFlight:
    """The real producer; while the batch after the first is in flight, Kafka is stopped.
    Records which deliveries failed, and which ids went out in a batch that had a failure."""

    def __init__(self, producer: AsyncProducer, platform: Platform) -> None:
        self._producer = producer
        self._platform = platform
        self._batches = 0
        self.kafka_stopped = asyncio.Event()
        self.delivery_failed = asyncio.Event()
        self.sent_in_failed_batches: set[str] = set()

    async def send_many(
        self, records: Sequence[tuple[str, KafkaRecord]]
    ) -> list[DeliveryError | None]:
        self._batches += 1
        sending = asyncio.ensure_future(self._producer.send_many(records))
        if self._batches == 2:
            await asyncio.to_thread(self._platform.down, ["kafka"])
            self.kafka_stopped.set()
        outcomes = await sending
        if any(outcome is not None for outcome in outcomes):
            self.sent_in_failed_batches |= {
                dict(record.headers)["ce_id"].decode() for _, record in records
            }
            self.delivery_failed.set()
        return outcomes


async def test_kafka_stopped_while_the_relay_publishes_loses_nothing_and_keeps_key_order(
    infrastructure: DevstackSettings, own_platform: Platform
) -> None:
    topic = unique_topic(infrastructure, "kafka-outage-relay", partitions=3)
    first, second, third = _steps(20), _steps(20, first=20), _steps(20, first=40)
    # Deliveries fail a few seconds into the outage (not after librdkafka's five minutes), so
    # the relay sees failures and must send those rows again once Kafka is back.
    producer = AsyncProducer(
        {"bootstrap.servers": infrastructure.bootstrap_servers, "message.timeout.ms": 3000}
    )
    stopping = StopsKafkaInFlight(producer, own_platform)
    async with isolated_schema(infrastructure, "kafka_outage_relay") as schema:
        relay = OutboxRelay(
            dsn=schema.dsn,
            table=schema.outbox,
            producer=stopping,  # type: ignore[arg-type]
            options=RelayOptions(batch_size=20, idle_poll_seconds=600, failure_backoff_seconds=0.2),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await _write(schema, topic, first)
            await until_outbox_published(schema, OUTAGE_TIMEOUT)
            await _write(schema, topic, second)  # Kafka stops while this batch is in flight
            async with asyncio.timeout(OUTAGE_TIMEOUT):
                await stopping.kafka_stopped.wait()
            # Written while Kafka is away: its delivery fails for certain (the one in flight
            # may or may not have been acknowledged before the broker went).
            await _write(schema, topic, third)
            async with asyncio.timeout(OUTAGE_TIMEOUT):
                await stopping.delivery_failed.wait()
            await _start(own_platform, "kafka")
            await until_outbox_published(schema, OUTAGE_TIMEOUT)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
        finally:
            stop.set()
            await running
            await _start(own_platform, "kafka")  # idempotent: up again whatever happened
            producer.close()

    _assert_complete_and_in_key_order(records, first + second + third,
                                      stopping.sent_in_failed_batches)  # fmt: skip


async def test_postgres_restart_under_the_leader_lock_hands_over_without_two_leaders(
    infrastructure: DevstackSettings, own_platform: Platform
) -> None:
    topic = unique_topic(infrastructure, "pg-outage-relay", partitions=3)
    before, during = _steps(20), _steps(20, first=20)
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    armed = asyncio.Event()
    acknowledged_when_stopped: list[int] = []
    restart: list[asyncio.Task[None]] = []

    async def stop_postgres_once(positions: Sequence[int]) -> None:
        # Under the leader's lock, after the broker acknowledged a batch, before it is marked
        # (armed once the first events are marked, so no earlier marking is still running).
        if armed.is_set() and not restart:
            acknowledged_when_stopped.extend(positions)
            await asyncio.to_thread(own_platform.down, ["postgres"])
            restart.append(asyncio.create_task(_start(own_platform, "postgres")))

    async with isolated_schema(infrastructure, "relay_db_outage") as schema:
        relays = [
            OutboxRelay(
                dsn=schema.dsn,
                table=schema.outbox,
                producer=producer,
                options=RelayOptions(
                    batch_size=10, idle_poll_seconds=0.5, standby_poll_seconds=0.1
                ),
                before_mark=stop_postgres_once,
            )
            for _ in range(2)
        ]
        stop = asyncio.Event()
        leader, standby = relays
        leaders_seen: list[int] = []

        async def watch_leaders() -> None:
            while not stop.is_set():
                leaders_seen.append(leader.is_leader + standby.is_leader)
                await asyncio.sleep(0.01)

        watching = asyncio.create_task(watch_leaders())
        # Supervised as the services run them: a relay whose connection died starts over. The
        # leader comes back a minute after it failed, the standby keeps trying: once
        # PostgreSQL is up again, the standby is the one that takes the lock over.
        running = [asyncio.create_task(supervised("leader", leader.run, stop, backoff=(60.0,)))]
        try:
            async with asyncio.timeout(OUTAGE_TIMEOUT):
                while not leader.is_leader:
                    await asyncio.sleep(0.05)
            running.append(
                asyncio.create_task(supervised("standby", standby.run, stop, backoff=(0.1,)))
            )
            await _write(schema, topic, before)
            await until_outbox_published(schema, OUTAGE_TIMEOUT)
            armed.set()
            await _write(schema, topic, during)
            async with asyncio.timeout(OUTAGE_TIMEOUT):
                while not restart:
                    await asyncio.sleep(0.05)
            await asyncio.gather(*restart)
            await until_outbox_published(schema, OUTAGE_TIMEOUT)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
            leading_after_restart = (leader.is_leader, standby.is_leader)
        finally:
            stop.set()
            await asyncio.gather(*running, watching, *restart)
            producer.close()
        async with schema.database.connection() as connection:
            resent = await connection.fetch(
                f'select event_id from "{schema.name}".outbox where position = any($1::bigint[])',
                acknowledged_when_stopped,
            )

    assert acknowledged_when_stopped, "the outage was never injected under the lock"
    assert max(leaders_seen) == 1, "two relays were active at once"
    assert leading_after_restart == (False, True), "the standby did not take over"
    _assert_complete_and_in_key_order(records, before + during, {row["event_id"] for row in resent})
