"""Retention on the real database: inbox ids and handled cancellations older than their
retention are deleted in batches; younger ones, and other tables, are left alone."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from devstack.settings import DevstackSettings
from eventing.database import Database
from provider_schedule.bootstrap import retention_purger
from tests.integration.provider_schedule.conftest import schedule_settings

pytestmark = pytest.mark.integration

INBOX = "provider_schedule.inbox"
CANCELLED = "provider_schedule.cancelled_bookings"


async def test_rows_older_than_their_retention_are_deleted_in_batches(
    schedule_database: DevstackSettings,
) -> None:
    settings = schedule_settings(
        schedule_database,
        inbox_retention=timedelta(days=7),
        cancelled_bookings_retention=timedelta(days=2),
    )
    database = Database(settings.database.database_url)
    await database.open()
    consumer = f"retention-test-{uuid.uuid4().hex[:8]}"
    old_events = [f"old-{n}" for n in range(5)]
    kept_events = ["six-days-old", "fresh"]
    old_booking, young_booking = uuid.uuid4(), uuid.uuid4()
    try:
        async with database.transaction() as connection:
            await connection.executemany(
                f"insert into {INBOX} (consumer, event_id, processed_at)"
                " values ($1, $2, now() - $3::interval)",
                [(consumer, event, timedelta(days=8)) for event in old_events]
                + [(consumer, "six-days-old", timedelta(days=6)), (consumer, "fresh", timedelta())],
            )
            await connection.executemany(
                f"insert into {CANCELLED} (booking_id, availability_id, cancelled_at)"
                " values ($1, $2, now() - $3::interval)",
                [
                    (old_booking, uuid.uuid4(), timedelta(days=3)),
                    (young_booking, uuid.uuid4(), timedelta(days=1)),
                ],
            )

        deleted = await retention_purger(settings, database, batch_size=2).purge_once()

        assert deleted['"provider_schedule"."inbox"'] >= len(old_events)
        async with database.connection() as connection:
            left = await connection.fetch(
                f"select event_id from {INBOX} where consumer = $1 order by event_id", consumer
            )
            cancelled = await connection.fetch(
                f"select booking_id from {CANCELLED} where booking_id = any($1::uuid[])",
                [old_booking, young_booking],
            )
        assert sorted(row["event_id"] for row in left) == sorted(kept_events)
        assert [row["booking_id"] for row in cancelled] == [young_booking]
    finally:
        await database.close()
