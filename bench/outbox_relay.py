"""Outbox relay throughput and latency, end to end: rows committed -> acknowledged by Kafka.

    uv run python bench/outbox_relay.py [--events 100000]

Starts its own Kafka and PostgreSQL through the launcher (state in .careplan/bench, ports
shifted by 20000) unless KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL point at running ones, and
stops them at the end. For each relay batch size it commits a backlog of outbox rows, then
times the relay from start until every row is acknowledged by the broker and marked.
A second phase writes one event per transaction while the relay runs and reports the
commit-to-acknowledgement latency that LISTEN/NOTIFY gives.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from contract.events import AvailabilityData, AvailabilityEvent, EncounterType, ProviderData
from contract.topics import TopicSpec
from devstack.catalog import KAFKA, POSTGRES
from devstack.kafka import create_topics
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from eventing.database import Database
from eventing.migrations import create_outbox_and_inbox
from eventing.outbox import Outbox, outbox_table
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay, RelayOptions

REPO = Path(__file__).resolve().parents[1]
# One availability event as the contract defines it (its model checks it), the same record
# every time: the figure is the relay's, not the serializer's.
PAYLOAD = AvailabilityEvent(
    id=UUID("0b8e5a2c-6a43-4e0e-9d2f-1f0d5f7b9a11"),
    provider=ProviderData(
        id=UUID("7d1c8e7e-3a37-4b4e-8c65-0a3c2c7b8f01"),
        first_name="John",
        last_name="Doe",
        speciality="Dentist",
        gender="MALE",
    ),
    availability=AvailabilityData(
        id=UUID("5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f"),
        from_date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        to_date=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        encounter_type=EncounterType.ONSITE,
    ),
).model_dump(mode="json", by_alias=True, exclude_none=True)


async def _fresh_schema(settings: DevstackSettings) -> str:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.begin() as connection:
        await connection.execute(text(f'create schema "{schema}"'))
        await connection.run_sync(create_outbox_and_inbox, schema)
    await engine.dispose()
    return schema


async def _write_backlog(settings: DevstackSettings, schema: str, topic: str, count: int) -> None:
    database = Database(settings.sqlalchemy_url)
    await database.open()
    outbox = Outbox(outbox_table(MetaData(schema=schema)))
    rows_per_tx = 1000
    for start in range(0, count, rows_per_tx):
        async with database.transaction() as connection:
            events = [
                Event.new(
                    source="/bench",
                    type="AVAILABILITY_UPDATED",
                    data=PAYLOAD,
                    key=f"slot-{n % 5000}",
                )
                for n in range(start, min(count, start + rows_per_tx))
            ]
            await outbox.add(connection, topic, events)
    await database.close()


async def throughput(settings: DevstackSettings, batch_size: int, count: int) -> float:
    schema = await _fresh_schema(settings)
    topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
    create_topics(settings, [TopicSpec(topic)])
    await _write_backlog(settings, schema, topic, count)
    producer = AsyncProducer({"bootstrap.servers": settings.bootstrap_servers})
    dsn = settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    relay = OutboxRelay(
        dsn=dsn,
        table=outbox_table(MetaData(schema=schema)),
        producer=producer,
        options=RelayOptions(batch_size=batch_size, idle_poll_seconds=0.05),
    )
    engine = create_async_engine(settings.sqlalchemy_url)
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    query = text(f'select count(*) from "{schema}".outbox where published_at is null')
    while True:
        async with engine.connect() as connection:
            if await connection.scalar(query) == 0:
                break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - began
    stop.set()
    await task
    producer.close()
    await engine.dispose()
    return count / elapsed


async def latency(settings: DevstackSettings, samples: int) -> list[float]:
    schema = await _fresh_schema(settings)
    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    create_topics(settings, [TopicSpec(topic)])
    committed_at: dict[str, float] = {}
    acknowledged_at: dict[str, float] = {}
    table = outbox_table(MetaData(schema=schema))
    ids_by_position: dict[int, str] = {}

    async def record_acks(positions: Sequence[int]) -> None:
        now = time.perf_counter()
        for position in positions:
            acknowledged_at[ids_by_position[position]] = now

    producer = AsyncProducer({"bootstrap.servers": settings.bootstrap_servers})
    dsn = settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    relay = OutboxRelay(
        dsn=dsn,
        table=table,
        producer=producer,
        before_mark=record_acks,
        options=RelayOptions(batch_size=100, idle_poll_seconds=60),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.5)
    database = Database(settings.sqlalchemy_url)
    await database.open()
    outbox = Outbox(table)
    for _ in range(samples):
        event = Event.new(source="/bench", type="AVAILABILITY_UPDATED", data=PAYLOAD, key="k")
        async with database.transaction() as connection:
            await outbox.add(connection, topic, [event])
            position = await connection.fetchval(
                f'select position from "{schema}".outbox where event_id = $1', event.id
            )
            # Known before the commit: the relay may acknowledge it before this line resumes.
            ids_by_position[int(position)] = event.id
        committed_at[event.id] = time.perf_counter()
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + 30
    while len(acknowledged_at) < samples and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    producer.close()
    await database.close()
    return sorted(
        (acknowledged_at[i] - committed_at[i]) * 1000 for i in committed_at if i in acknowledged_at
    )


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]


async def run(settings: DevstackSettings, events: int) -> None:
    print("Outbox relay, end to end (committed rows -> acknowledged by Kafka, acks=all)")
    print(f"{'relay batch size':>17} {'events':>8} {'events/s':>10}")
    for batch_size, count in ((1, min(events, 5_000)), (100, events), (10_000, events)):
        rate = await throughput(settings, batch_size, count)
        print(f"{batch_size:>17,} {count:>8,} {rate:>10,.0f}")
    delays = await latency(settings, 300)
    print(
        f"\nCommit -> ack latency, one event per transaction (LISTEN/NOTIFY wake-up), "
        f"{len(delays)} samples: p50 {statistics.median(delays):.1f} ms, "
        f"p99 {_percentile(delays, 0.99):.1f} ms"
    )
    print("Original Java implementation: at most 10 events/s (ten rows per one-second poll).")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    # Below the kernel's ephemeral ports (devstack.ports), clear of the test session (10000).
    settings = DevstackSettings(state_dir=REPO / ".careplan" / "bench", port_offset=20000)
    own_platform = settings.kafka_bootstrap_servers is None and settings.database_url is None
    platform = Platform(settings, [KAFKA, POSTGRES])
    if own_platform:
        print("Starting Kafka and PostgreSQL for the benchmark...", file=sys.stderr)
        platform.up()
    try:
        asyncio.run(run(settings, args.events))
    finally:
        if own_platform:
            platform.down()


if __name__ == "__main__":
    main()
