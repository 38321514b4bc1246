"""No double booking when requests really race: concurrent booking requests for one slot (as two
responder replicas would run them, each in its own transaction) and a provider's update or
delete racing them. The slot's row lock serialises them; the version guard catches any write
that slipped past a lock. Each guarantee has a test here that fails without it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contract.events import EncounterType
from provider_schedule.domain import commands
from provider_schedule.domain.decisions import BookingDecision, Confirmed, Rejected
from provider_schedule.domain.errors import AvailabilityBookedError
from provider_schedule.domain.model import Availability, Profile
from provider_schedule.persistence.repository import ConcurrentUpdateError
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory
from provider_schedule.service_layer import handlers
from tests.integration.provider_schedule.conftest import ScheduleApp

pytestmark = pytest.mark.integration

RACERS = 8


async def _slot(units: UnitOfWorkFactory) -> Availability:
    start = datetime(2033, 1, 1, tzinfo=UTC) + timedelta(minutes=uuid.uuid4().int % 500_000)
    async with units.begin() as uow:
        provider = await handlers.register_provider(
            commands.RegisterProvider(
                Profile("Ada", f"Race-{uuid.uuid4().hex[:6]}", "X", "FEMALE")
            ),
            uow,
        )
    async with units.begin() as uow:
        return await handlers.add_availability(
            commands.AddAvailability(
                provider.id, start, start + timedelta(minutes=30), EncounterType.ONSITE
            ),
            uow,
        )


async def _request(
    units: UnitOfWorkFactory, slot: Availability, booking: uuid.UUID
) -> BookingDecision:
    async with units.begin() as uow:
        return await handlers.request_booking(commands.RequestBooking(booking, slot.id), uow)


async def _stored(units: UnitOfWorkFactory, slot: Availability) -> Availability:
    async with units.begin() as uow:
        stored = await uow.availabilities.get(slot.id)
    assert stored is not None
    return stored


async def test_concurrent_requests_for_one_slot_confirm_exactly_one_and_all_get_an_answer(
    schedule_app: ScheduleApp,
) -> None:
    units = schedule_app.container.units
    for _ in range(5):
        slot = await _slot(units)
        bookings = [uuid.uuid4() for _ in range(RACERS)]
        # Every request gets a decision: without the row lock, the losers of the race would
        # fail on the version guard instead of being rejected.
        decisions = await asyncio.gather(*(_request(units, slot, b) for b in bookings))

        winners = [b for b, d in zip(bookings, decisions, strict=True) if isinstance(d, Confirmed)]
        assert len(winners) == 1, decisions
        assert all(isinstance(d, Rejected) for d in decisions if not isinstance(d, Confirmed))
        stored = await _stored(units, slot)
        assert stored.booking_reference_id == winners[0]
        assert stored.version == slot.version + 1, "one change, one version"


async def test_a_provider_deleting_or_moving_a_slot_while_it_is_booked_never_loses_either(
    schedule_app: ScheduleApp,
) -> None:
    units = schedule_app.container.units
    for round_ in range(6):
        slot = await _slot(units)
        booking = uuid.uuid4()
        change = _delete(units, slot) if round_ % 2 else _move(units, slot)
        decision, changed = await asyncio.gather(_request(units, slot, booking), change)

        stored = await _stored(units, slot)
        if isinstance(decision, Confirmed):
            assert stored.booking_reference_id == booking
        else:
            assert stored.booking_reference_id is None
        if round_ % 2:
            assert stored.is_deleted
            # Deleted first: the booking was told so; booked first: the deletion came after.
            assert isinstance(decision, Confirmed) or "deleted" in decision.reason
        elif changed:
            assert stored.time_range.start == slot.time_range.start + timedelta(hours=1)
            assert isinstance(decision, Rejected) or stored.booking_reference_id == booking
        else:  # the booking came first: a booked slot is not moved
            assert isinstance(decision, Confirmed)
        # Each successful change is one version step, whichever order they took.
        assert stored.version == slot.version + int(isinstance(decision, Confirmed)) + int(changed)


async def _delete(units: UnitOfWorkFactory, slot: Availability) -> bool:
    async with units.begin() as uow:
        await handlers.delete_availability(
            commands.DeleteAvailability(slot.provider_id, slot.id), uow
        )
    return True


async def _move(units: UnitOfWorkFactory, slot: Availability) -> bool:
    moved = slot.time_range.start + timedelta(hours=1)
    try:
        async with units.begin() as uow:
            await handlers.update_availability(
                commands.UpdateAvailability(
                    slot.provider_id,
                    slot.id,
                    moved,
                    moved + timedelta(minutes=30),
                    EncounterType.ONSITE,
                ),
                uow,
            )
    except AvailabilityBookedError:
        return False
    return True


async def test_a_write_from_a_stale_version_is_refused(schedule_app: ScheduleApp) -> None:
    units = schedule_app.container.units
    slot = await _slot(units)
    async with units.begin() as uow:
        await uow.availabilities.save(slot.booked_by(uuid.uuid4()), previous_version=slot.version)
    with pytest.raises(ConcurrentUpdateError):
        async with units.begin() as uow:
            # Written as if the booking above had not happened: the guard must refuse it.
            await uow.availabilities.save(
                slot.booked_by(uuid.uuid4()), previous_version=slot.version
            )
