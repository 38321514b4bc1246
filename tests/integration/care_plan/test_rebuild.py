"""``python -m care_plan.rebuild_read_model``: the read model is replayed from the compacted
topic; the result is the newest state of every availability, the slots that live bookings hold
stay held, and what the running projector applied meanwhile is not undone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from care_plan import bootstrap
from care_plan.messaging.projector import availability_projector
from care_plan.persistence.tables import BOOKABLE
from care_plan.rebuild_read_model import read_topic, write_read_model
from care_plan.settings import Settings
from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from eventing.settings import DatabaseSettings, KafkaSettings
from tests.integration.care_plan.support import (
    FakeProvider,
    Slot,
    create_database,
    drop_database,
    new_slot,
)

pytestmark = pytest.mark.integration

# Compaction as eager as Kafka allows, so that the test sees it happen.
EAGER_COMPACTION = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.001",
    "delete.retention.ms": "0",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "100",
}


def compacted_topic(settings: DevstackSettings) -> str:
    name = f"test.availability.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    for future in admin.create_topics([NewTopic(name, 2, 1, config=EAGER_COMPACTION)]).values():
        future.result()
    return name


def count_records(settings: DevstackSettings, topic: str) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"count-{uuid.uuid4().hex}",
            "log_level": 0,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        count, done = 0, {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 20
        while len(done) < len(ends) and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error():
                    continue
                count += 1
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
        return count
    finally:
        consumer.close()


def renamed(slot: Slot, speciality: str) -> Slot:
    return Slot(**{**slot.__dict__, "speciality": speciality})


@pytest.fixture
async def database(infrastructure: DevstackSettings) -> AsyncIterator[str]:
    url = await create_database(infrastructure, "care_plan_rebuild")
    yield url
    await drop_database(infrastructure, url)


async def test_rebuild_replays_the_compacted_topic_into_an_emptied_read_model(
    infrastructure: DevstackSettings, database: str
) -> None:
    topic = compacted_topic(infrastructure)
    provider = FakeProvider(infrastructure.bootstrap_servers, availability_topic=topic)
    updated, deleted, plain, held = new_slot(), new_slot(), new_slot(), new_slot()
    # Booked elsewhere (another deployment): the provider's holder is kept and hides the slot.
    elsewhere, foreign = new_slot(), uuid.uuid4()
    patient, booking, orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for version in (1, 2, 3):
        provider.availability(
            "CREATED" if version == 1 else "UPDATED",
            renamed(updated, f"v{version}"),
            version=version,
        )
    provider.availability("CREATED", deleted, version=1)
    provider.availability("DELETED", deleted, version=2)
    # The provider names our own booking as the holder: ``held_by`` tracks that hold instead.
    provider.availability("CREATED", held, version=1, booking_reference_id=booking)
    provider.availability("CREATED", plain, version=1)
    provider.availability("CREATED", elsewhere, version=1, booking_reference_id=foreign)
    published = 9

    # Republishing the newest state of one slot rolls the segments until the cleaner has
    # compacted the older versions away (the replay must not depend on them).
    deadline = time.monotonic() + 90
    while await asyncio.to_thread(count_records, infrastructure, topic) >= published:
        assert time.monotonic() < deadline, "the topic was never compacted"
        provider.availability("CREATED", plain, version=1)
        published += 1
        await asyncio.sleep(0.5)

    engine = create_async_engine(database)
    async with engine.begin() as connection:
        # A live booking of ``held``, and a read model that has gone wrong: a stray slot, and
        # ``updated`` stuck at an old state.
        await connection.execute(
            text(
                "insert into care_plan.patients (id, first_name, last_name, gender, date_of_birth) "
                "values (:id, 'Jane', 'Roe', 'FEMALE', '1991-08-06')"
            ),
            {"id": patient},
        )
        now = datetime.now(UTC)
        await connection.execute(
            text(
                "insert into care_plan.bookings (id, patient_id, provider_availability_id, status,"
                " payment_mode, slot_from_date, slot_to_date, slot_provider_id, slot_speciality,"
                " encounter_type, created_at, expires_at) values (:id, :patient, :slot,"
                " 'CONFIRMED', 'SELF_PAY', :start, :end, :provider, 'x', 'ONSITE', :now, :later)"
            ),
            {
                "id": booking,
                "patient": patient,
                "slot": held.id,
                "start": held.from_date,
                "end": held.to_date,
                "provider": held.provider_id,
                "now": now,
                "later": now + timedelta(minutes=1),
            },
        )
        # A live booking of a slot whose deletion the service never projected.
        await connection.execute(
            text(
                "insert into care_plan.bookings (id, patient_id, provider_availability_id, status,"
                " payment_mode, slot_from_date, slot_to_date, slot_provider_id, slot_speciality,"
                " encounter_type, created_at, expires_at) values (:id, :patient, :slot,"
                " 'CONFIRMED', 'SELF_PAY', :start, :end, :provider, 'x', 'ONSITE', :now, :later)"
            ),
            {
                "id": orphan,
                "patient": patient,
                "slot": deleted.id,
                "start": deleted.from_date,
                "end": deleted.to_date,
                "provider": deleted.provider_id,
                "now": now,
                "later": now + timedelta(minutes=1),
            },
        )
        for stale in (new_slot(), renamed(updated, "stale")):
            await connection.execute(
                text(
                    "insert into care_plan.slots (id, provider_id, first_name, last_name, speciality,"
                    " gender, from_date, to_date, encounter_type, version, event_id) values (:id,"
                    " :provider, 'A', 'B', :speciality, 'MALE', :start, :end, 'ONSITE', 1, 'old')"
                ),
                {
                    "id": stale.id,
                    "provider": stale.provider_id,
                    "speciality": stale.speciality,
                    "start": stale.from_date,
                    "end": stale.to_date,
                },
            )

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "care_plan.rebuild_read_model", "--topic", topic],
        env={
            **os.environ,
            # As `careplan care-plan rebuild` and the manifests give it: there is no default.
            "ENVIRONMENT": "test",
            "DATABASE_URL": database,
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read model rebuilt" in result.stdout

    async with engine.connect() as connection:
        rows = {
            row.id: row
            for row in await connection.execute(
                text(
                    "select id, speciality, version, deleted_at, held_by, provider_booking_id"
                    " from care_plan.slots"
                )
            )
        }
        offered = [
            row.id
            for row in await connection.execute(
                text(f"select id from care_plan.slots where {BOOKABLE} order by from_date, id")
            )
        ]
        statuses = dict(
            (await connection.execute(text("select id, status from care_plan.bookings"))).all()
        )
        cancellations = (
            (
                await connection.execute(
                    text("select event_type from care_plan.outbox where subject = :id"),
                    {"id": str(orphan)},
                )
            )
            .scalars()
            .all()
        )
    await engine.dispose()
    assert statuses == {booking: "CONFIRMED", orphan: "CANCELLED_BY_PROVIDER"}
    assert cancellations == ["BOOKING_CANCELLED"]
    assert set(rows) == {updated.id, deleted.id, plain.id, held.id, elsewhere.id}, (
        "the stray slot is gone"
    )
    assert (rows[updated.id].speciality, rows[updated.id].version) == ("v3", 3)
    assert rows[deleted.id].deleted_at is not None
    assert rows[held.id].held_by == booking
    assert rows[held.id].provider_booking_id is None, "our own booking: held_by tracks it"
    assert rows[elsewhere.id].provider_booking_id == foreign
    assert sorted(offered) == sorted([updated.id, plain.id])


async def test_states_the_projector_applies_while_the_rebuild_runs_survive_it(
    infrastructure: DevstackSettings, database: str
) -> None:
    topic = compacted_topic(infrastructure)
    provider = FakeProvider(infrastructure.bootstrap_servers, availability_topic=topic)
    settings = Settings(
        environment="test",
        kafka=KafkaSettings(bootstrap_servers=infrastructure.bootstrap_servers),
        database=DatabaseSettings(database_url=database),
        availability_topic=topic,
    )
    engine = create_async_engine(database)
    pool = bootstrap.create_database(settings)
    await pool.open()
    projector = availability_projector(bootstrap.build_units(pool))

    async def project(*events: Event) -> None:
        """What the running service does with an event it consumes."""
        for event in events:
            async with pool.transaction() as connection:
                await projector(connection, [event])

    deleted, updated, created, forgotten = new_slot(), new_slot(), new_slot(), new_slot()
    await project(
        provider.availability("CREATED", deleted, version=1),
        provider.availability("CREATED", renamed(updated, "v1"), version=1),
    )
    # A row of an availability the topic does not know (projected from elsewhere, long ago).
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "insert into care_plan.slots (id, provider_id, first_name, last_name, speciality,"
                " gender, from_date, to_date, encounter_type, version, event_id) values (:id,"
                " :provider, 'A', 'B', 'x', 'MALE', :start, :end, 'ONSITE', 1, 'old')"
            ),
            {
                "id": forgotten.id,
                "provider": forgotten.provider_id,
                "start": forgotten.from_date,
                "end": forgotten.to_date,
            },
        )

    report = await read_topic(settings, pool)
    assert (report.slots, report.deleted) == (2, 0)
    # Published after the rebuild read the topic and applied by the live projector (now in
    # its inbox, so never applied again) before the rebuild writes.
    await project(
        provider.availability("DELETED", deleted, version=2),
        provider.availability("UPDATED", renamed(updated, "v2"), version=2),
        provider.availability("CREATED", created, version=1),
    )
    await write_read_model(pool, report)
    await pool.close()

    async with engine.connect() as connection:
        rows = {
            row.id: row
            for row in await connection.execute(
                text("select id, speciality, version, deleted_at from care_plan.slots")
            )
        }
    await engine.dispose()
    assert set(rows) == {deleted.id, updated.id, created.id}, "only the forgotten row is gone"
    assert rows[deleted.id].deleted_at is not None, "the deletion is not revived"
    assert (rows[deleted.id].version, rows[updated.id].version) == (2, 2)
    assert rows[updated.id].speciality == "v2"
    assert (report.written, report.removed) == (0, 1)
