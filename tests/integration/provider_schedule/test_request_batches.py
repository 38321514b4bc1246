"""A poll's booking requests answered together (``handlers.answer_requests`` through the
responder) against the real database: in order, each request seeing the effects of the ones
before it as if it had its own transaction, each event on its request's trace, and two
batches racing for one slot confirming one booking."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from provider_schedule.domain import commands
from provider_schedule.domain.decisions import Confirmed, Rejected, RejectionReason
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory
from provider_schedule.service_layer import handlers
from tests.integration.care_plan.support import new_traceparent
from tests.integration.provider_schedule.conftest import ScheduleApp
from tests.integration.provider_schedule.test_races import _slot, _stored

pytestmark = pytest.mark.integration


async def test_a_batch_of_requests_is_answered_in_order(schedule_app: ScheduleApp) -> None:
    units = schedule_app.container.units
    slot, other = await _slot(units), await _slot(units)
    first, second, third, late = (uuid.uuid4() for _ in range(4))
    requests: list[commands.BookingRequest] = [
        commands.RequestBooking(first, slot.id),
        commands.RequestBooking(second, slot.id),  # held by the first
        commands.CancelBooking(first, slot.id),  # frees it
        commands.RequestBooking(third, slot.id),
        commands.CancelBooking(late, other.id),  # overtook its creation
        commands.RequestBooking(late, other.id),
        commands.RequestBooking(uuid.uuid4(), uuid.uuid4()),  # no such slot
    ]
    traceparents = [new_traceparent() for _ in requests]

    async with units.begin() as uow:
        outcomes = await handlers.answer_requests(requests, uow, traceparents=traceparents)

    assert [type(o).__name__ if not isinstance(o, bool) else o for o in outcomes] == [
        "Confirmed", "Rejected", True, "Confirmed", False, "Rejected", "Rejected",
    ]  # fmt: skip
    assert isinstance(outcomes[5], Rejected)
    assert outcomes[5].reason.startswith(RejectionReason.BOOKING_CANCELLED)
    stored = await _stored(units, slot)
    assert (stored.booking_reference_id, stored.version) == (third, slot.version + 3)
    assert (await _stored(units, other)).booking_reference_id is None
    async with units.begin() as uow:
        assert await uow.cancelled_bookings.among([first, second, third, late]) == {first, late}
    async with schedule_app.container.database.connection() as connection:
        rows = await connection.fetch(
            "select event_type, traceparent from provider_schedule.outbox"
            " where traceparent = any($1::text[]) order by position",
            traceparents,
        )
    assert [(kind, traceparents.index(tp)) for kind, tp in rows] == [
        ("AVAILABILITY_UPDATED", 0), ("BOOKING_REQUEST_CONFIRMED", 0),
        ("BOOKING_REQUEST_REJECTED", 1),
        ("AVAILABILITY_UPDATED", 2),
        ("AVAILABILITY_UPDATED", 3), ("BOOKING_REQUEST_CONFIRMED", 3),
        ("BOOKING_REQUEST_REJECTED", 5),
        ("BOOKING_REQUEST_REJECTED", 6),
    ]  # fmt: skip


async def _batch(units: UnitOfWorkFactory, requests: list[commands.BookingRequest]) -> list[object]:
    async with units.begin() as uow:
        return list(await handlers.answer_requests(requests, uow))


async def test_batches_racing_for_one_slot_confirm_exactly_one_booking(
    schedule_app: ScheduleApp,
) -> None:
    units = schedule_app.container.units
    slot, other = await _slot(units), await _slot(units)
    bookings = [uuid.uuid4() for _ in range(6)]
    # Two responders' batches asking for the slots in opposite orders: each locks both in id
    # order, so neither waits for the other in a cycle.
    batches: list[list[commands.BookingRequest]] = [
        [commands.RequestBooking(b, s.id) for b, s in zip(bookings[i::2], order, strict=True)]
        for i, order in enumerate([[slot, other, slot], [other, slot, other]])
    ]
    results = await asyncio.gather(*(_batch(units, batch) for batch in batches))

    decided = {
        request.booking_id: outcome
        for batch, outcomes in zip(batches, results, strict=True)
        for request, outcome in zip(batch, outcomes, strict=True)
    }
    for held in (slot, other):
        winners = [
            b for b, o in decided.items() if isinstance(o, Confirmed) and o.slot.id == held.id
        ]
        assert len(winners) == 1, decided
        assert (await _stored(units, held)).booking_reference_id == winners[0]
