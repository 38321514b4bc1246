"""The booking saga through the API, with the provider side played over Kafka: requests,
replies, expiry, cancellation, provider deletion, idempotency, races and bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from contract import topics
from contract.events import BookingEvent, BookingRequest
from tests.integration.care_plan.conftest import BOOKING_TIMEOUT_SECONDS, Service
from tests.integration.care_plan.support import (
    FakeProvider,
    KafkaTap,
    Slot,
    about_booking,
    eventually,
    for_availability,
    new_slot,
)
from tests.integration.care_plan.test_availability_api import publish_slots
from tests.integration.care_plan.test_patients_api import INSURANCE, PATIENT, assert_error

pytestmark = pytest.mark.integration

UNINSURED = {k: v for k, v in PATIENT.items() if k != "insurance"}


async def new_patient(service: Service, body: dict[str, Any] = PATIENT) -> str:
    response = await service.client.post("/patients", json=body)
    assert response.status_code == 201
    return str(response.json()["id"])


async def published_slot(service: Service, provider: FakeProvider) -> Slot:
    slot = new_slot()
    await publish_slots(service, provider, [slot])
    return slot


async def book(service: Service, patient: str, slot: Slot | str, **extra: Any) -> Any:
    availability = slot if isinstance(slot, str) else str(slot.id)
    headers = {"Idempotency-Key": extra.pop("key")} if "key" in extra else {}
    return await service.client.post(
        f"/patients/{patient}/bookings",
        headers=headers,
        json={"providerAvailabilityId": availability, **extra},
    )


async def status_of(service: Service, patient: str, booking: str) -> str:
    response = await service.client.get(f"/patients/{patient}/bookings/{booking}")
    assert response.status_code == 200
    return str(response.json()["status"])


async def until_status(
    service: Service, patient: str, booking: str, status: str, timeout: float = 15.0
) -> None:
    async def reached() -> bool:
        return await status_of(service, patient, booking) == status

    await eventually(reached, timeout=timeout, what=f"booking {status}")


async def bookable(service: Service, slot: Slot) -> bool:
    found = await service.client.get("/availability", params={"providerId": str(slot.provider_id)})
    return str(slot.id) in {item["id"] for item in found.json()}


# --- requesting -------------------------------------------------------------------------


async def test_booking_waits_sends_the_creation_request_and_hides_the_slot(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    response = await book(service, patient, slot)
    assert response.status_code == 201
    booking = response.json()
    assert booking["status"] == "WAITING_FOR_CONFIRMATION"
    assert booking["paymentMode"] == "INSURANCE_PAY"
    assert (booking["patientId"], booking["providerAvailabilityId"]) == (patient, str(slot.id))
    assert booking["slot"]["encounterType"] == slot.encounter_type.value

    [request] = await tap.wait_for(topics.BOOKING_REQUESTS, about_booking(booking["id"]))
    assert request.key == str(slot.id)
    assert request.event.type == "BOOKING_CREATION_REQUEST"
    assert request.event.source == "/care-plan"
    assert BookingRequest.model_validate(request.event.data).model_dump(mode="json") == {
        "id": booking["id"],
        "provider_availability_id": str(slot.id),
        "patient_id": patient,
        "status": "WAITING_FOR_CONFIRMATION",
        "payment_mode": "INSURANCE_PAY",
    }
    assert not await bookable(service, slot)
    listed = (await service.client.get(f"/patients/{patient}/bookings")).json()
    assert [b["id"] for b in listed] == [booking["id"]]


@pytest.mark.parametrize(
    ("patient_body", "requested", "expected"),
    [
        (UNINSURED, None, "SELF_PAY"),
        (PATIENT, "SELF_PAY", "SELF_PAY"),
        (UNINSURED, "INSURANCE_PAY", "INSURANCE_PAY"),
    ],
)
async def test_payment_mode(
    service: Service,
    provider: FakeProvider,
    patient_body: dict[str, Any],
    requested: str | None,
    expected: str,
) -> None:
    patient, slot = (
        await new_patient(service, patient_body),
        await published_slot(service, provider),
    )
    extra = {"paymentMode": requested} if requested else {}
    response = await book(service, patient, slot, **extra)
    assert response.status_code == 201
    assert response.json()["paymentMode"] == expected


async def test_booking_an_unknown_slot_is_404(service: Service) -> None:
    patient = await new_patient(service)
    assert_error(await book(service, patient, str(uuid.uuid4())), 404, "not_found")


async def test_booking_for_an_unknown_patient_is_404(
    service: Service, provider: FakeProvider
) -> None:
    slot = await published_slot(service, provider)
    assert_error(await book(service, str(uuid.uuid4()), slot), 404, "not_found")
    assert await bookable(service, slot)


async def test_booking_a_held_slot_is_409_at_once(service: Service, provider: FakeProvider) -> None:
    first, second = await new_patient(service), await new_patient(service)
    slot = await published_slot(service, provider)
    assert (await book(service, first, slot)).status_code == 201
    assert_error(await book(service, second, slot), 409, "slot_not_bookable")
    assert_error(await book(service, first, slot), 409, "slot_not_bookable")


async def test_booking_a_deleted_slot_is_409(service: Service, provider: FakeProvider) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    provider.availability("DELETED", slot, version=2)

    async def gone() -> bool:
        return not await bookable(service, slot)

    await eventually(gone, what="slot deleted")
    body = assert_error(await book(service, patient, slot), 409, "slot_not_bookable")
    assert "deleted" in body["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"providerAvailabilityId": "nope"},
        {"providerAvailabilityId": None},
        {"providerAvailabilityId": str(uuid.uuid4()), "paymentMode": "CASH"},
        [],
    ],
)
async def test_booking_with_bad_input_is_422(service: Service, body: Any) -> None:
    patient = await new_patient(service)
    response = await service.client.post(f"/patients/{patient}/bookings", json=body)
    assert_error(response, 422, "validation_failed")


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "ключ"])
async def test_booking_with_a_bad_idempotency_key_is_422(
    service: Service, provider: FakeProvider, key: str
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    response = await service.client.post(
        f"/patients/{patient}/bookings",
        json={"providerAvailabilityId": str(slot.id)},
        headers={"Idempotency-Key": key.encode()},
    )
    assert_error(response, 422, "validation_failed")
    assert await bookable(service, slot)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/patients/x/bookings"),
        ("POST", "/patients/x/bookings"),
        ("GET", "/patients/x/bookings/y"),
        ("DELETE", "/patients/x/bookings/y"),
        ("GET", f"/patients/{uuid.uuid4()}/bookings/y"),
        ("DELETE", f"/patients/x/bookings/{uuid.uuid4()}"),
    ],
)
async def test_booking_paths_with_malformed_ids_are_422(
    service: Service, method: str, path: str
) -> None:
    response = await service.client.request(
        method, path, json={"providerAvailabilityId": str(uuid.uuid4())}
    )
    assert_error(response, 422, "validation_failed")


async def test_bookings_need_the_api_key(service: Service) -> None:
    patient, booking = uuid.uuid4(), uuid.uuid4()
    for response in (
        await service.anonymous.post(f"/patients/{patient}/bookings", json={}),
        await service.anonymous.get(f"/patients/{patient}/bookings"),
        await service.anonymous.get(f"/patients/{patient}/bookings/{booking}"),
        await service.anonymous.delete(f"/patients/{patient}/bookings/{booking}"),
    ):
        assert_error(response, 401, "unauthorized")


async def test_listing_bookings_of_an_unknown_patient_is_404(service: Service) -> None:
    assert_error(await service.client.get(f"/patients/{uuid.uuid4()}/bookings"), 404, "not_found")


async def test_reading_another_patients_booking_is_404(
    service: Service, provider: FakeProvider
) -> None:
    owner, other = await new_patient(service), await new_patient(service)
    booking = (await book(service, owner, await published_slot(service, provider))).json()
    assert_error(
        await service.client.get(f"/patients/{other}/bookings/{booking['id']}"), 404, "not_found"
    )
    assert_error(
        await service.client.delete(f"/patients/{other}/bookings/{booking['id']}"), 404, "not_found"
    )
    assert await status_of(service, owner, booking["id"]) == "WAITING_FOR_CONFIRMATION"


# --- idempotency and races ---------------------------------------------------------------


async def test_the_same_idempotency_key_returns_the_same_booking(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    first = await book(service, patient, slot, key="retry-1")
    again = await book(service, patient, slot, key="retry-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other_slot = await published_slot(service, provider)
    assert_error(
        await book(service, patient, other_slot, key="retry-1"), 422, "idempotency_key_reused"
    )
    # The key is the patient's own: another patient may use the same string.
    someone = await new_patient(service)
    assert (await book(service, someone, other_slot, key="retry-1")).status_code == 201
    await tap.wait_for(topics.BOOKING_REQUESTS, for_availability(slot.id))
    assert len(tap.records(topics.BOOKING_REQUESTS, for_availability(slot.id))) == 1


async def test_concurrent_retries_with_one_key_create_one_booking(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    answers = await asyncio.gather(*(book(service, patient, slot, key="burst") for _ in range(8)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    await tap.wait_for(topics.BOOKING_REQUESTS, for_availability(slot.id))
    assert len((await service.client.get(f"/patients/{patient}/bookings")).json()) == 1


async def test_one_key_racing_over_several_slots_books_one_and_refuses_the_rest(
    service: Service, provider: FakeProvider
) -> None:
    # Different slots take different locks: the key's unique index decides, and the losers are
    # read back as a reused key (422), never a unique violation (500).
    patient = await new_patient(service)
    slots = [await published_slot(service, provider) for _ in range(6)]
    answers = await asyncio.gather(*(book(service, patient, s, key="one-key") for s in slots))
    assert sorted(a.status_code for a in answers) == [201] + [422] * 5
    for answer in answers:
        if answer.status_code == 422:
            assert_error(answer, 422, "idempotency_key_reused")
    assert len((await service.client.get(f"/patients/{patient}/bookings")).json()) == 1


async def test_racing_patients_one_passes_the_local_check_the_others_get_409(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    slot = await published_slot(service, provider)
    patients = [await new_patient(service) for _ in range(8)]
    answers = await asyncio.gather(*(book(service, p, slot) for p in patients))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    [winner] = [a.json() for a in answers if a.status_code == 201]
    await tap.wait_for(topics.BOOKING_REQUESTS, for_availability(slot.id))
    requests = tap.records(topics.BOOKING_REQUESTS, for_availability(slot.id))
    assert [r.event.data["id"] for r in requests] == [winner["id"]]


# --- replies ----------------------------------------------------------------------------


async def test_confirmation_publishes_booking_confirmed_with_event_carried_state(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")
    [confirmed] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    assert confirmed.key == booking["id"]
    event = BookingEvent.model_validate(confirmed.event.data)
    assert event.booking.status.value == "CONFIRMED"
    assert event.booking.payment_mode.value == "INSURANCE_PAY"
    assert event.patient.model_dump(mode="json", by_alias=True) == {"id": patient, **PATIENT}
    assert event.encounter_type is slot.encounter_type
    assert (event.slot.from_date, event.slot.to_date) == (slot.from_date, slot.to_date)
    assert (event.slot.provider_id, event.slot.speciality) == (slot.provider_id, slot.speciality)
    assert not await bookable(service, slot)


async def test_confirmation_carries_the_slot_as_the_provider_moved_it_meanwhile(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    moved = Slot(
        **{
            **slot.__dict__,
            "from_date": slot.from_date + timedelta(hours=3),
            "to_date": slot.to_date + timedelta(hours=3),
        }
    )
    provider.availability("UPDATED", moved, version=2)

    async def projected() -> bool:
        async with service.sessions() as session:
            version = await session.scalar(
                text("select version from care_plan.slots where id = :id"), {"id": slot.id}
            )
        return version == 2

    await eventually(projected, what="the move projected")
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")
    [confirmed] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    assert confirmed.event.data["slot"]["fromDate"] == moved.from_date.isoformat()
    read = (await service.client.get(f"/patients/{patient}/bookings/{booking['id']}")).json()
    assert read["slot"]["fromDate"] == moved.from_date.isoformat()


async def test_a_duplicate_confirmation_publishes_once(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    first = provider.reply(booking["id"], slot.id, confirmed=True)
    provider.publish(provider.replies_topic, first)  # redelivered: same ce_id
    provider.reply(booking["id"], slot.id, confirmed=True)  # repeated: a new ce_id
    await until_status(service, patient, booking["id"], "CONFIRMED")
    marker = await published_slot(service, provider)  # the consumer moved past all three
    marker_booking = (await book(service, patient, marker)).json()
    provider.reply(marker_booking["id"], marker.id, confirmed=True)
    await tap.wait_for(topics.CAREPLAN_BOOKINGS, about_booking(marker_booking["id"]))
    assert len(tap.records(topics.CAREPLAN_BOOKINGS, about_booking(booking["id"]))) == 1


async def test_rejection_keeps_the_reason_and_offers_the_slot_again(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=False, reason="already booked by another")
    await until_status(service, patient, booking["id"], "REJECTED")
    read = (await service.client.get(f"/patients/{patient}/bookings/{booking['id']}")).json()
    assert read["reason"] == "already booked by another"
    [rejected] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_REJECTED")
    )
    assert rejected.event.data["booking"]["reason"] == "already booked by another"
    assert await bookable(service, slot)
    assert (await book(service, await new_patient(service), slot)).status_code == 201


async def test_a_reply_for_a_booking_we_do_not_know_is_ignored(
    service: Service, provider: FakeProvider
) -> None:
    provider.reply(uuid.uuid4(), uuid.uuid4(), confirmed=True)
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")


# --- expiry -----------------------------------------------------------------------------


async def test_without_a_reply_the_booking_expires_and_a_late_confirmation_is_ignored(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    await until_status(
        service, patient, booking["id"], "EXPIRED", timeout=BOOKING_TIMEOUT_SECONDS + 10
    )
    [expired] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_EXPIRED")
    )
    assert expired.event.data["booking"]["status"] == "EXPIRED"
    creation, cancellation = await tap.wait_for(
        topics.BOOKING_REQUESTS, about_booking(booking["id"]), count=2
    )
    # Same key, same partition, creation first: the provider side releases what it held.
    assert (creation.event.type, cancellation.event.type) == (
        "BOOKING_CREATION_REQUEST",
        "BOOKING_CANCELLATION_REQUEST",
    )
    assert creation.partition == cancellation.partition
    assert creation.offset < cancellation.offset
    assert cancellation.event.data["status"] == "EXPIRED"
    assert await bookable(service, slot)

    provider.reply(booking["id"], slot.id, confirmed=True)  # the provider side was only slow
    late_marker = await published_slot(service, provider)
    marker_booking = (await book(service, patient, late_marker)).json()
    provider.reply(marker_booking["id"], late_marker.id, confirmed=True)
    await until_status(service, patient, marker_booking["id"], "CONFIRMED")
    assert await status_of(service, patient, booking["id"]) == "EXPIRED"
    assert not tap.records(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    assert await bookable(service, slot)


# --- cancellation -------------------------------------------------------------------------


async def test_patient_cancels_a_confirmed_booking(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")

    response = await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert await status_of(service, patient, booking["id"]) == "CANCELLED_BY_PATIENT"
    [cancelled] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    assert cancelled.event.data["booking"]["status"] == "CANCELLED_BY_PATIENT"
    [request] = await tap.wait_for(
        topics.BOOKING_REQUESTS, about_booking(booking["id"], "BOOKING_CANCELLATION_REQUEST")
    )
    assert request.key == str(slot.id)
    assert request.event.data["status"] == "CANCELLED_BY_PATIENT"
    assert await bookable(service, slot)
    # The row is kept as history.
    listed = (await service.client.get(f"/patients/{patient}/bookings")).json()
    assert [(b["id"], b["status"]) for b in listed] == [(booking["id"], "CANCELLED_BY_PATIENT")]

    again = await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert again.status_code == 204
    assert (await book(service, await new_patient(service), slot)).status_code == 201
    assert (
        len(
            tap.records(topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED"))
        )
        == 1
    )


async def test_booking_events_carry_the_patient_as_at_the_request(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")
    # The patient changes insurance between confirmation and cancellation.
    changed = {**PATIENT, "insurance": {**INSURANCE, "payer": "Other Health", "plan": "BRONZE"}}
    response = await service.client.put(f"/patients/{patient}", json=changed)
    assert response.status_code == 200, response.text
    assert response.json()["insurance"]["payer"] == "Other Health"

    response = await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert response.status_code == 204
    [confirmed] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CONFIRMED")
    )
    [cancelled] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    at_request = {"id": patient, **PATIENT}
    for seen in (confirmed, cancelled):
        event = BookingEvent.model_validate(seen.event.data)
        assert event.patient.model_dump(mode="json", by_alias=True) == at_request
    assert cancelled.event.data["booking"]["status"] == "CANCELLED_BY_PATIENT"


async def test_a_booking_stored_without_a_patient_snapshot_uses_the_current_patient(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    async with service.sessions.begin() as session:  # as booked before the column existed
        await session.execute(
            text("update care_plan.bookings set patient_snapshot = null where id = :id"),
            {"id": booking["id"]},
        )
    changed = {**PATIENT, "insurance": {**INSURANCE, "payer": "Other Health"}}
    assert (await service.client.put(f"/patients/{patient}", json=changed)).status_code == 200
    response = await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}")
    assert response.status_code == 204
    [cancelled] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    assert cancelled.event.data["patient"]["insurance"]["payer"] == "Other Health"


async def test_cancelling_a_rejected_booking_is_409(
    service: Service, provider: FakeProvider
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=False, reason="slot deleted")
    await until_status(service, patient, booking["id"], "REJECTED")
    assert_error(
        await service.client.delete(f"/patients/{patient}/bookings/{booking['id']}"),
        409,
        "booking_not_cancellable",
    )


async def test_cancelling_an_unknown_booking_is_404(service: Service) -> None:
    patient = await new_patient(service)
    assert_error(
        await service.client.delete(f"/patients/{patient}/bookings/{uuid.uuid4()}"),
        404,
        "not_found",
    )


# --- the provider deletes a booked slot ------------------------------------------------------


async def test_provider_deleting_a_booked_slot_cancels_the_booking(
    service: Service, provider: FakeProvider, tap: KafkaTap
) -> None:
    patient, slot = await new_patient(service), await published_slot(service, provider)
    booking = (await book(service, patient, slot)).json()
    provider.reply(booking["id"], slot.id, confirmed=True)
    await until_status(service, patient, booking["id"], "CONFIRMED")
    provider.availability("DELETED", slot, version=3, booking_reference_id=uuid.UUID(booking["id"]))
    await until_status(service, patient, booking["id"], "CANCELLED_BY_PROVIDER")
    [cancelled] = await tap.wait_for(
        topics.CAREPLAN_BOOKINGS, about_booking(booking["id"], "BOOKING_CANCELLED")
    )
    assert cancelled.event.data["booking"]["status"] == "CANCELLED_BY_PROVIDER"
    assert cancelled.event.data["patient"]["insurance"] == PATIENT["insurance"]
    assert not await bookable(service, slot)
    assert_error(await book(service, patient, slot), 409, "slot_not_bookable")
    assert not tap.records(
        topics.BOOKING_REQUESTS, about_booking(booking["id"], "BOOKING_CANCELLATION_REQUEST")
    )
