"""The booking saga end to end: the real Care Plan and Provider Schedule processes, real Kafka
and real PostgreSQL, driven only through their HTTP APIs (the topics are only observed)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from contract import topics
from contract.events import BookingEvent
from tests.e2e.conftest import Saga, stop_service
from tests.integration.care_plan.support import about_booking, eventually

pytestmark = pytest.mark.e2e


async def test_availability_created_at_the_provider_is_searchable(saga: Saga) -> None:
    provider = await saga.provider(gender="MALE")
    availability = await saga.slot(provider, encounter_type="VIRTUAL")
    found = await saga.care_plan.get(
        "/availability",
        params={"speciality": provider["speciality"], "encounterType": "VIRTUAL", "gender": "MALE"},
    )
    assert found.status_code == 200
    [slot] = found.json()
    assert slot == {
        "id": availability["id"],
        "providerId": provider["id"],
        "firstName": "Gregory",
        "lastName": "House",
        "speciality": provider["speciality"],
        "gender": "MALE",
        "fromDate": slot["fromDate"],
        "toDate": slot["toDate"],
        "encounterType": "VIRTUAL",
    }
    assert (slot["fromDate"][:19], slot["toDate"][:19]) == (
        availability["fromDate"][:19],
        availability["toDate"][:19],
    )


async def test_booking_is_confirmed(saga: Saga) -> None:
    # How fast is measured by bench/booking.py, not asserted here (a loaded machine is slow).
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()

    response = await saga.book(patient, availability["id"])
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "WAITING_FOR_CONFIRMATION"
    await saga.until_status(patient, booking["id"], "CONFIRMED")

    assert await saga.held_by(provider, availability["id"]) == booking["id"]
    assert not await saga.searchable(availability["id"], provider["id"])
    [confirmed] = await saga.tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    event = BookingEvent.model_validate(confirmed.event.data)
    assert event.patient.insurance is not None
    assert event.patient.insurance.member_id == "M-7"
    assert event.booking.payment_mode.value == "INSURANCE_PAY"
    assert event.encounter_type.value == "ONSITE"
    assert (str(event.slot.provider_id), event.slot.speciality) == (
        provider["id"],
        provider["speciality"],
    )


async def test_two_patients_racing_for_one_slot_one_confirmed_one_rejected(
    saga: Saga, second_care_plan: httpx.AsyncClient
) -> None:
    """Each patient books through a Care Plan deployment that cannot see the other's booking,
    so both pass their local check; the provider side, the authority on the slot, decides."""
    provider = await saga.provider()
    availability = await saga.slot(provider)
    await eventually(
        lambda: saga.searchable(availability["id"], provider["id"], second_care_plan),
        what="availability searchable in the second Care Plan",
    )
    first, second = await saga.patient(), await saga.patient(second_care_plan)

    answers = await asyncio.gather(
        saga.book(first, availability["id"]),
        saga.book(second, availability["id"], second_care_plan),
    )
    # Usually both pass their local check and the provider side decides. When one booking is
    # confirmed and its slot's update reaches the other deployment before that one's request,
    # the other refuses at once (409): the provider reports the slot booked elsewhere.
    statuses = [a.status_code for a in answers]
    assert sorted(statuses) in ([201, 201], [201, 409]), [a.text for a in answers]
    accepted = [
        (patient, client, answer.json()["id"])
        for patient, client, answer in zip(
            (first, second), (saga.care_plan, second_care_plan), answers, strict=True
        )
        if answer.status_code == 201
    ]

    async def settled() -> list[dict] | None:
        bookings = [await saga.booking(p, b, client) for p, client, b in accepted]
        done = all(b["status"] != "WAITING_FOR_CONFIRMATION" for b in bookings)
        return bookings if done else None

    bookings = await eventually(settled, timeout=10, what="the accepted bookings answered")
    [winner] = [b for b in bookings if b["status"] == "CONFIRMED"]
    losers = [b for b in bookings if b["status"] != "CONFIRMED"]
    assert all(b["status"] == "REJECTED" for b in losers)
    assert all(b["reason"].startswith("already booked by another booking") for b in losers)
    assert len(losers) == statuses.count(201) - 1
    assert await saga.held_by(provider, availability["id"]) == winner["id"]


async def test_two_patients_racing_through_one_deployment_the_second_is_refused_at_once(
    saga: Saga,
) -> None:
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patients = [await saga.patient(), await saga.patient()]
    answers = await asyncio.gather(*(saga.book(p, availability["id"]) for p in patients))
    assert sorted(a.status_code for a in answers) == [201, 409]
    [(patient, winner)] = [
        (p, a.json()) for p, a in zip(patients, answers, strict=True) if a.status_code == 201
    ]
    await saga.until_status(patient, winner["id"], "CONFIRMED")
    assert await saga.held_by(provider, availability["id"]) == winner["id"]


async def test_patient_cancel_makes_the_slot_bookable_again_and_publishes_booking_cancelled(
    saga: Saga,
) -> None:
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()
    booking = (await saga.book(patient, availability["id"])).json()
    await saga.until_status(patient, booking["id"], "CONFIRMED")

    cancelled = await saga.care_plan.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert cancelled.status_code == 204
    assert (await saga.booking(patient, booking["id"]))["status"] == "CANCELLED_BY_PATIENT"
    [event] = await saga.tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    assert event.event.data["booking"]["status"] == "CANCELLED_BY_PATIENT"
    assert await saga.searchable(availability["id"], provider["id"])

    async def released() -> bool:
        return await saga.held_by(provider, availability["id"]) is None

    await eventually(released, what="the provider side released the slot")
    someone_else = await saga.patient()
    again = await saga.book(someone_else, availability["id"])
    assert again.status_code == 201
    await saga.until_status(someone_else, again.json()["id"], "CONFIRMED")


async def test_provider_deleting_a_booked_slot_cancels_the_booking(saga: Saga) -> None:
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()
    booking = (await saga.book(patient, availability["id"])).json()
    await saga.until_status(patient, booking["id"], "CONFIRMED")

    deleted = await saga.provider_schedule.delete(
        f"/providers/{provider['id']}/availability/{availability['id']}"
    )
    assert deleted.status_code == 204
    ended = await saga.until_status(patient, booking["id"], "CANCELLED_BY_PROVIDER")
    assert ended["reason"]
    [event] = await saga.tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    assert event.event.data["booking"]["status"] == "CANCELLED_BY_PROVIDER"
    assert not await saga.searchable(availability["id"], provider["id"])
    refused = await saga.book(await saga.patient(), availability["id"])
    assert refused.status_code == 409


async def test_provider_side_down_booking_expires_and_the_slot_is_not_left_held(
    saga: Saga,
) -> None:
    provider = await saga.provider()
    availability = await saga.slot(provider)
    patient = await saga.patient()
    timeout = saga.settings.booking_timeout_seconds

    await asyncio.to_thread(stop_service, saga.launcher, "provider-schedule")
    try:
        began = time.monotonic()
        response = await saga.book(patient, availability["id"])
        assert response.status_code == 201, response.text
        booking = response.json()
        assert not await saga.searchable(availability["id"], provider["id"])
        expired = await saga.until_status(patient, booking["id"], "EXPIRED", timeout=timeout + 15)
        assert time.monotonic() - began >= timeout - 0.1, "expired before its timeout"
        assert (await saga.booking(patient, booking["id"]))["status"] == "EXPIRED"
        assert expired["expiresAt"] > expired["createdAt"]
        [event] = await saga.tap.wait_for(
            topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_EXPIRED")
        )
        assert event.event.data["booking"]["status"] == "EXPIRED"
        assert await saga.searchable(availability["id"], provider["id"])
    finally:
        await asyncio.to_thread(saga.launcher.up, ["provider-schedule"])

    # Back up, the provider side answers the old request late (it confirms: the slot was free)
    # and then handles the cancellation that followed it on the same key.
    [late] = await saga.tap.wait_for(
        topics.BOOKING_REPLIES, about_booking(booking["id"]), timeout=30
    )
    assert late.event.type == "BOOKING_REQUEST_CONFIRMED"

    async def released() -> bool:
        return await saga.held_by(provider, availability["id"]) is None

    await eventually(released, timeout=30, what="the provider side released the slot")
    assert (await saga.booking(patient, booking["id"]))["status"] == "EXPIRED"
    assert not saga.tap.records(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    assert await saga.searchable(availability["id"], provider["id"])
    someone_else = await saga.patient()
    again = await saga.book(someone_else, availability["id"])
    assert again.status_code == 201
    await saga.until_status(someone_else, again.json()["id"], "CONFIRMED")
