"""The relay keeps per-key order, is woken by NOTIFY, and only one relay per outbox is active."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence

import pytest
from confluent_kafka import KafkaError

from devstack.settings import DevstackSettings
from eventing.cloudevents import Event, KafkaRecord
from eventing.outbox import Outbox
from eventing.producer import AsyncProducer, DeliveryError
from eventing.relay import OutboxRelay, RelayOptions
from eventing.settings import DatabaseSettings
from tests.support.database import IsolatedSchema, isolated_schema, until_outbox_published
from tests.support.kafka import read_all, read_to_end, unique_topic

pytestmark = pytest.mark.integration

# Far longer than any test waits: events that arrive were delivered because NOTIFY woke the relay.
NO_POLLING = RelayOptions(batch_size=100, idle_poll_seconds=600)


def _relay(
    settings: DevstackSettings, schema: IsolatedSchema, producer: AsyncProducer
) -> OutboxRelay:
    return OutboxRelay(dsn=schema.dsn, table=schema.outbox, producer=producer, options=NO_POLLING)


async def _write(schema: IsolatedSchema, topic: str, events: list[Event]) -> None:
    async with schema.database.transaction() as connection:
        await Outbox(schema.outbox).add(connection, topic, events)


async def test_events_of_one_key_arrive_in_the_order_they_were_written(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "relay-order", partitions=6)
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    async with isolated_schema(infrastructure, "relay_order") as schema:
        stop = asyncio.Event()
        relay = asyncio.create_task(_relay(infrastructure, schema, producer).run(stop))
        try:
            # Many small transactions, interleaving keys, while the relay is already running.
            for batch in range(30):
                await _write(
                    schema,
                    topic,
                    [
                        Event.new(
                            source="/test",
                            type="STEP",
                            data={"seq": batch * 10 + i},
                            key=f"entity-{i}",
                        )
                        for i in range(10)
                    ],
                )
            await until_outbox_published(schema)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
        finally:
            stop.set()
            await relay
            producer.close()

    sequences: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda m: (m.partition(), m.offset())):
        sequences[record.key()].append(int(record.value().split(b":")[1].rstrip(b"}")))
    assert len(records) == 300
    assert len(sequences) == 10
    for key, seen in sequences.items():
        assert seen == sorted(seen), f"{key!r} out of order"
        assert len(seen) == 30


async def test_only_one_relay_is_active_and_a_standby_takes_over(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "relay-leader")
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    async with isolated_schema(infrastructure, "relay_leader") as schema:
        first, second = (
            _relay(infrastructure, schema, producer),
            _relay(infrastructure, schema, producer),
        )
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        first_task = asyncio.create_task(first.run(stop_first))
        await _until(lambda: first.is_leader)
        second_task = asyncio.create_task(second.run(stop_second))
        try:
            await _write(
                schema,
                topic,
                [Event.new(source="/t", type="A", data={"n": n}, key=str(n)) for n in range(20)],
            )
            await asyncio.to_thread(read_all, infrastructure, topic, expect=20)
            assert first.is_leader
            assert not second.is_leader

            stop_first.set()
            await first_task
            await _until(lambda: second.is_leader)
            await _write(
                schema,
                topic,
                [Event.new(source="/t", type="B", data={"n": n}, key=str(n)) for n in range(20)],
            )
            await until_outbox_published(schema)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
        finally:
            stop_first.set()
            stop_second.set()
            await asyncio.gather(first_task, second_task)
            producer.close()

    ids = [dict(r.headers())["ce_id"] for r in records]
    assert len(ids) == 40
    assert len(set(ids)) == 40, "two active relays would have published duplicates"


async def test_a_standby_stopped_before_it_ever_led_ends_cleanly_and_the_leader_keeps_on(
    infrastructure: DevstackSettings,
) -> None:
    # It never opened the marking connection: ending must not trip over one.
    topic = unique_topic(infrastructure, "relay-standby-stop")
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    async with isolated_schema(infrastructure, "relay_standby_stop") as schema:
        leader, standby = (
            _relay(infrastructure, schema, producer),
            _relay(infrastructure, schema, producer),
        )
        stop_leader, stop_standby = asyncio.Event(), asyncio.Event()
        leader_task = asyncio.create_task(leader.run(stop_leader))
        try:
            await _until(lambda: leader.is_leader)
            standby_task = asyncio.create_task(standby.run(stop_standby))
            await asyncio.sleep(0.2)  # the standby has asked for the lock and been refused
            stop_standby.set()
            await asyncio.wait_for(standby_task, 15)
            assert not standby.is_leader
            await _write(schema, topic, [Event.new(source="/t", type="A", data={}, key="k")])
            await until_outbox_published(schema)
            assert leader.is_leader
        finally:
            stop_leader.set()
            await leader_task
            producer.close()
    assert len(await asyncio.to_thread(read_to_end, infrastructure, topic)) == 1


async def _until(condition: object, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not (callable(condition) and condition()):
            await asyncio.sleep(0.05)


async def test_relay_connects_with_the_database_url_form_the_eks_overlay_uses(
    infrastructure: DevstackSettings,
) -> None:
    # The overlay's DATABASE_URL carries SQLAlchemy's `?ssl=...`; raw asyncpg took it for a server
    # setting and every relay connection failed. `prefer` because this PostgreSQL has no TLS.
    topic = unique_topic(infrastructure, "relay-ssl-url")
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    database = DatabaseSettings(database_url=f"{infrastructure.sqlalchemy_url}?ssl=prefer")
    async with isolated_schema(infrastructure, "relay_ssl") as schema:
        relay = OutboxRelay(
            dsn=database.asyncpg_dsn, table=schema.outbox, producer=producer, options=NO_POLLING
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await _write(schema, topic, [Event.new(source="/test", type="STEP", data={}, key="k")])
            await until_outbox_published(schema)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
        finally:
            stop.set()
            await running
            producer.close()
    assert len(records) == 1


class RefusesOnce:
    """The real producer, except that one record, the first time it is offered, is refused as
    the broker would refuse it (nothing sent): a delivery failure in the middle of a batch."""

    def __init__(self, producer: AsyncProducer, refused_ce_id: str) -> None:
        self._producer = producer
        self._refused = refused_ce_id.encode()
        self.refusals = 0

    async def send_many(
        self, records: Sequence[tuple[str, KafkaRecord]]
    ) -> list[DeliveryError | None]:
        index = next(
            (i for i, (_, r) in enumerate(records) if dict(r.headers)["ce_id"] == self._refused),
            None,
        )
        if index is None or self.refusals:
            return await self._producer.send_many(records)
        self.refusals += 1
        before = await self._producer.send_many(records[:index])
        after = await self._producer.send_many(records[index + 1 :])
        refused = DeliveryError(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        return [*before, refused, *after]


async def test_a_delivery_failure_mid_batch_keeps_each_keys_order(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "relay-refused", partitions=1)
    events = [
        Event.new(source="/test", type="STEP", data={"seq": n}, key=f"k{n % 3}") for n in range(30)
    ]
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    refusing = RefusesOnce(producer, refused_ce_id=events[10].id)
    async with isolated_schema(infrastructure, "relay_refused") as schema:
        await _write(schema, topic, events)  # one batch: the refusal lands in its middle
        relay = OutboxRelay(
            dsn=schema.dsn,
            table=schema.outbox,
            producer=refusing,  # type: ignore[arg-type]
            options=RelayOptions(
                batch_size=100, idle_poll_seconds=600, failure_backoff_seconds=0.1
            ),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await until_outbox_published(schema)
            records = await asyncio.to_thread(read_to_end, infrastructure, topic)
        finally:
            stop.set()
            await running
            producer.close()

    assert refusing.refusals == 1
    sequences: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda m: m.offset()):
        sequences[record.key()].append(json.loads(record.value())["seq"])
    # What followed the refused record was sent again after it, so each key's last copy of
    # every event comes in order; without the stop at the first failure, k1's events after the
    # refused one would be marked and never follow it again.
    for key, seen in sequences.items():
        last_seen = list(dict.fromkeys(reversed(seen)))[::-1]
        assert last_seen == sorted(last_seen), f"{key!r} out of order: {seen}"
        assert set(seen) == {n for n in range(30) if f"k{n % 3}".encode() == key}


class CountsBatches:
    """The real producer, recording how many records each call of the relay hands it."""

    def __init__(self, producer: AsyncProducer) -> None:
        self._producer = producer
        self.sizes: list[int] = []

    async def send_many(
        self, records: Sequence[tuple[str, KafkaRecord]]
    ) -> list[DeliveryError | None]:
        self.sizes.append(len(records))
        return await self._producer.send_many(records)


async def test_the_relay_sends_at_most_its_batch_size_at_a_time(
    infrastructure: DevstackSettings,
) -> None:
    topic = unique_topic(infrastructure, "relay-batch-size")
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    counting = CountsBatches(producer)
    async with isolated_schema(infrastructure, "relay_batch_size") as schema:
        await _write(
            schema,
            topic,
            [Event.new(source="/t", type="A", data={"n": n}, key=str(n)) for n in range(12)],
        )
        relay = OutboxRelay(
            dsn=schema.dsn,
            table=schema.outbox,
            producer=counting,  # type: ignore[arg-type]
            options=RelayOptions(batch_size=5, idle_poll_seconds=600),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await until_outbox_published(schema)
        finally:
            stop.set()
            await running
            producer.close()

    assert counting.sizes == [5, 5, 2]


async def test_published_rows_past_their_retention_are_purged_in_batches(
    infrastructure: DevstackSettings,
) -> None:
    """Against PostgreSQL: a purge deletes at most a batch of the published rows older than the
    retention; a full batch purges on at the relay's next idle moment (here: the next
    notification, as the poll is far away), and the rows still within it stay."""
    topic = unique_topic(infrastructure, "relay-purge")
    producer = AsyncProducer({"bootstrap.servers": infrastructure.bootstrap_servers})
    purging = RelayOptions(
        batch_size=100, idle_poll_seconds=600, purge_interval_seconds=600, purge_batch_size=4
    )

    def event(n: int) -> Event:
        return Event.new(source="/test", type="STEP", data={"n": n}, key=f"k-{n}")

    async with isolated_schema(infrastructure, "relay_purge") as schema:
        outbox = f'"{schema.name}".outbox'

        async def rows_become(expected: int) -> None:
            async with asyncio.timeout(30):
                while True:
                    async with schema.database.connection() as connection:
                        if await connection.fetchval(f"select count(*) from {outbox}") == expected:
                            return
                    await asyncio.sleep(0.05)

        await _write(schema, topic, [event(n) for n in range(12)])
        stop = asyncio.Event()
        relay = asyncio.create_task(_relay(infrastructure, schema, producer).run(stop))
        await until_outbox_published(schema)
        stop.set()
        await relay
        async with schema.database.connection() as connection:
            await connection.execute(
                f"update {outbox} set published_at = now() - interval '2 hours'"
                f" where position in (select position from {outbox} order by position limit 10)"
            )
        stop = asyncio.Event()
        relay = asyncio.create_task(
            OutboxRelay(
                dsn=schema.dsn, table=schema.outbox, producer=producer, options=purging
            ).run(stop)
        )
        try:
            await rows_become(12 - 4)  # its first idle moment: one batch
            await asyncio.sleep(0.3)
            await rows_become(8)  # and no more until it wakes again
            await _write(schema, topic, [event(12)])
            await rows_become(8 + 1 - 4)
            await _write(schema, topic, [event(13)])
            await rows_become(5 + 1 - 2)  # the last two past the retention; the rest stay
        finally:
            stop.set()
            await relay
            producer.close()
