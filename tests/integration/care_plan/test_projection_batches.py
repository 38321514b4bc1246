"""A poll's availability events applied together (``handlers.project_availabilities`` through
the projector's handler) against the real database: in order, the version rule within the
batch as across batches, a deletion's cancellations on its own trace, and the slots that a
concurrent projector inserts first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from care_plan.messaging import projector
from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import (
    FakeProvider,
    Slot,
    availability_event,
    new_slot,
    new_traceparent,
)
from tests.integration.care_plan.test_bookings_api import (
    book,
    bookable,
    new_patient,
    published_slot,
    status_of,
)

pytestmark = pytest.mark.integration


def _moved(slot: Slot, hours: int) -> Slot:
    return Slot(
        **{
            **slot.__dict__,
            "from_date": slot.from_date + timedelta(hours=hours),
            "to_date": slot.to_date + timedelta(hours=hours),
        }
    )


async def _stored(service: Service, slot: Slot) -> tuple[int | None, bool] | None:
    async with service.sessions() as session:
        row = (
            await session.execute(
                text("select version, deleted_at is not null from care_plan.slots where id = :id"),
                {"id": slot.id},
            )
        ).first()
    return (row[0], row[1]) if row else None


async def test_a_batch_of_availability_events_is_projected_in_order(
    service: Service, provider: FakeProvider
) -> None:
    patient = await new_patient(service)
    booked = await published_slot(service, provider)
    booking = (await book(service, patient, booked)).json()["id"]
    fresh, deletion_trace = new_slot(), new_traceparent()
    batch = [
        availability_event("CREATED", fresh, version=1),
        availability_event("UPDATED", _moved(fresh, 2), version=3),
        availability_event("UPDATED", _moved(fresh, 1), version=2),  # older: stale
        availability_event("RENAMED", fresh, version=4),  # a type we do not know
        availability_event("DELETED", booked, version=5, traceparent=deletion_trace),
        availability_event("UPDATED", booked, version=6),  # nothing applies over a deletion
    ]
    project = projector.availability_projector(service.container.units)

    async with service.container.database.transaction() as connection:
        outcomes = await project(connection, batch)

    assert outcomes == ["inserted", "updated", "stale", "updated", "stale"]
    assert await _stored(service, fresh) == (3, False)
    assert await bookable(service, fresh)
    assert await _stored(service, booked) == (5, True)
    assert await status_of(service, patient, booking) == "CANCELLED_BY_PROVIDER"
    async with service.sessions() as session:
        staged = (
            await session.execute(
                text("select event_type, traceparent from care_plan.outbox where subject = :id"
                     " and event_type <> 'BOOKING_CREATION_REQUEST'"),
                {"id": booking},
            )
        ).all()  # fmt: skip
    assert [tuple(row) for row in staged] == [("BOOKING_CANCELLED", deletion_trace)]


async def test_a_slot_a_concurrent_projector_inserted_first_is_compared_under_its_lock(
    service: Service,
) -> None:
    slot, stale = new_slot(), new_slot()
    project = projector.availability_projector(service.container.units)
    database = service.container.database

    async with database.transaction() as first:
        await project(
            first,
            [
                availability_event("CREATED", slot, version=1),
                availability_event("CREATED", stale, version=5),
            ],
        )

        async def second_projector() -> object:
            async with database.transaction() as connection:
                return await project(
                    connection,
                    [
                        availability_event("UPDATED", stale, version=4),  # older than the first's
                        availability_event("UPDATED", slot, version=2),
                    ],
                )

        # Its inserts wait on the first one's rows until that commits, then find them taken.
        racing = asyncio.create_task(second_projector())
        await asyncio.sleep(0.5)
        assert not racing.done()

    assert await racing == ["stale", "updated"]
    assert await _stored(service, slot) == (2, False)
    assert await _stored(service, stale) == (5, False)
