"""The provider side's holder of a slot (``bookingReferenceId`` in the availability events):
a booking made elsewhere (another Care Plan deployment, the Java one) hides the slot from search
and refuses a booking at once until the provider reports the slot free again; a holder that is
one of our own bookings is tracked by our own hold, which ends when our booking does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import FakeProvider, Slot, eventually
from tests.integration.care_plan.test_bookings_api import (
    book,
    bookable,
    new_patient,
    published_slot,
    until_status,
)
from tests.integration.care_plan.test_patients_api import assert_error
from tests.integration.care_plan.test_projector import processed

pytestmark = pytest.mark.integration


async def provider_booking_id(service: Service, slot: Slot) -> Any:
    async with service.sessions() as session:
        return (
            await session.execute(
                text("select provider_booking_id from care_plan.slots where id = :id"),
                {"id": slot.id},
            )
        ).scalar_one()


async def test_a_slot_booked_elsewhere_is_hidden_and_refused_until_the_provider_frees_it(
    service: Service, provider: FakeProvider
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    elsewhere = uuid.uuid4()  # a booking of another Care Plan deployment
    provider.availability("UPDATED", slot, version=2, booking_reference_id=elsewhere)

    async def hidden() -> bool:
        return not await bookable(service, slot)

    await eventually(hidden, what="slot booked elsewhere hidden from search")
    assert await provider_booking_id(service, slot) == elsewhere
    speciality = await service.client.get("/availability", params={"speciality": slot.speciality})
    assert str(slot.id) not in {item["id"] for item in speciality.json()}
    refused = await book(service, patient, slot)
    assert_error(refused, 409, "slot_not_bookable")
    assert "provider" in refused.json()["detail"]
    listed = (await service.client.get(f"/patients/{patient}/bookings")).json()
    assert listed == [], "a refused request leaves no booking"

    provider.availability("UPDATED", slot, version=3, booking_reference_id=None)
    await eventually(lambda: bookable(service, slot), what="slot freed by the provider")
    response = await book(service, patient, slot)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "WAITING_FOR_CONFIRMATION"


async def test_an_older_event_naming_a_holder_does_not_hide_a_freed_slot(
    service: Service, provider: FakeProvider
) -> None:
    slot = await published_slot(service, provider)
    freed = provider.availability("UPDATED", slot, version=3, booking_reference_id=None)
    late = provider.availability("UPDATED", slot, version=2, booking_reference_id=uuid.uuid4())
    await processed(service, freed, late)
    assert await provider_booking_id(service, slot) is None
    assert await bookable(service, slot)


async def test_our_own_booking_as_the_providers_holder_ends_with_our_booking(
    service: Service, provider: FakeProvider
) -> None:
    """The provider names our confirmed booking; the patient cancels: the slot is offered at
    once, as before (our cancellation request precedes any later request on the slot's key)."""
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")
    held = provider.availability(
        "UPDATED", slot, version=2, booking_reference_id=uuid.UUID(booking["id"])
    )
    await processed(service, held)
    assert await provider_booking_id(service, slot) is None, "held_by tracks our own hold"
    assert not await bookable(service, slot)

    cancelled = await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert cancelled.status_code == 204
    assert await bookable(service, slot)
    again = await book(service, await new_patient(service), slot)
    assert again.status_code == 201, again.text
