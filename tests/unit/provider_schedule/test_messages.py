"""Domain events become CloudEvents that fit the wire contract."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from jsonschema import Draft202012Validator, FormatChecker

from contract import schemas, topics
from contract.events import EncounterType
from provider_schedule.domain.events import AvailabilityChanged, BookingAnswered, Change
from provider_schedule.domain.model import Availability, Profile, Provider, TimeRange
from provider_schedule.messaging.events import MessageMapper
from provider_schedule.messaging.topics import ScheduleTopics

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _validator(topic: str) -> Draft202012Validator:
    return Draft202012Validator(schemas.topic_schema(topic), format_checker=FormatChecker())


def test_availability_change_carries_provider_slot_version_and_booking() -> None:
    provider = Provider.register(Profile("John", "Doe", "Dentist", "MALE"))
    booking = uuid.uuid4()
    slot = Availability.open(provider.id, TimeRange(START, START + timedelta(minutes=30)),
                             EncounterType.ONSITE).booked_by(booking)  # fmt: skip

    topic, event = MessageMapper(ScheduleTopics())(
        AvailabilityChanged(Change.UPDATED, provider, slot), "00-abc-def-01"
    )

    assert topic == topics.PROVIDER_AVAILABILITY
    assert event.type == "AVAILABILITY_UPDATED"
    assert event.source == "/provider-schedule"
    assert event.key == str(slot.id)
    assert event.traceparent == "00-abc-def-01"
    assert event.data["id"] == event.id
    assert event.data["provider"] == {"id": str(provider.id), "firstName": "John",
                                      "lastName": "Doe", "speciality": "Dentist",
                                      "gender": "MALE"}  # fmt: skip
    assert event.data["availability"] == {
        "id": str(slot.id),
        "fromDate": "2026-12-01T09:00:00+00:00",
        "toDate": "2026-12-01T09:30:00+00:00",
        "encounterType": "ONSITE",
        "bookingReferenceId": str(booking),
        "version": 2,
    }
    _validator(topics.PROVIDER_AVAILABILITY).validate(event.data)


def test_replies_are_keyed_by_booking_and_carry_a_reason_only_on_rejection() -> None:
    mapper = MessageMapper(ScheduleTopics())
    booking, slot = uuid.uuid4(), uuid.uuid4()

    topic, confirmed = mapper(BookingAnswered(booking, slot), None)
    _, rejected = mapper(BookingAnswered(booking, slot, "slot deleted: gone"), None)

    assert topic == topics.BOOKING_REPLIES
    assert confirmed.type == "BOOKING_REQUEST_CONFIRMED"
    assert confirmed.key == str(booking)
    assert confirmed.data == {"bookingId": str(booking), "availabilityId": str(slot)}
    assert rejected.type == "BOOKING_REQUEST_REJECTED"
    assert rejected.data["reason"] == "slot deleted: gone"
    assert confirmed.id != rejected.id
    for data in (confirmed.data, rejected.data):
        _validator(topics.BOOKING_REPLIES).validate(data)
