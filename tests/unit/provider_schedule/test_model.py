"""Providers and slots: time ranges, versions, what a booked slot may not do."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import pytest

from contract.events import EncounterType
from provider_schedule.domain.errors import (
    AvailabilityBookedError,
    AvailabilityNotFoundError,
    InvalidTimeRangeError,
    ProviderNotFoundError,
)
from provider_schedule.domain.model import (
    FIRST_VERSION,
    Availability,
    Profile,
    ProfileChanges,
    Provider,
    TimeRange,
)

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


def _slot() -> Availability:
    return Availability.open(uuid.uuid4(), TimeRange(START, START + HALF_HOUR),
                             EncounterType.ONSITE)  # fmt: skip


@pytest.mark.parametrize("end", [START, START - HALF_HOUR], ids=["empty", "reversed"])
def test_time_range_must_start_before_it_ends(end: datetime) -> None:
    with pytest.raises(InvalidTimeRangeError, match="must be before"):
        TimeRange(START, end)


def test_time_range_needs_an_offset() -> None:
    with pytest.raises(InvalidTimeRangeError, match="offset"):
        TimeRange(datetime(2026, 12, 1, 9), datetime(2026, 12, 1, 10))


def test_back_to_back_ranges_do_not_overlap_but_intersecting_ones_do() -> None:
    first = TimeRange(START, START + HALF_HOUR)
    assert not first.overlaps(TimeRange(START + HALF_HOUR, START + 2 * HALF_HOUR))
    assert first.overlaps(TimeRange(START + HALF_HOUR / 2, START + 2 * HALF_HOUR))
    # The same instant in another offset is the same range.
    plus_two = timezone(timedelta(hours=2))
    assert first == TimeRange(START.astimezone(plus_two), (START + HALF_HOUR).astimezone(plus_two))


def test_new_slot_starts_free_at_the_first_version() -> None:
    slot = _slot()
    assert slot.version == FIRST_VERSION
    assert not slot.is_booked
    assert not slot.is_deleted


def test_every_change_increments_the_version_by_one() -> None:
    slot = _slot()
    later = TimeRange(START + HALF_HOUR, START + 2 * HALF_HOUR)
    steps = [
        slot.rescheduled(later, EncounterType.VIRTUAL),
    ]
    steps.append(steps[-1].booked_by(uuid.uuid4()))
    steps.append(steps[-1].republished())
    steps.append(steps[-1].released())
    steps.append(steps[-1].deleted(datetime.now(UTC)))
    assert [s.version for s in steps] == [2, 3, 4, 5, 6]


def test_rescheduling_to_the_same_time_and_type_is_no_change() -> None:
    slot = _slot()
    assert slot.rescheduled(slot.time_range, slot.encounter_type) is slot


def test_booked_slot_cannot_be_rescheduled() -> None:
    slot = _slot().booked_by(uuid.uuid4())
    with pytest.raises(AvailabilityBookedError):
        slot.rescheduled(slot.time_range, EncounterType.VIRTUAL)
    # Asking for what it already is stays harmless.
    assert slot.rescheduled(slot.time_range, slot.encounter_type) is slot


def test_deleted_slot_keeps_the_booking_it_held() -> None:
    booking = uuid.uuid4()
    deleted = _slot().booked_by(booking).deleted(datetime.now(UTC))
    assert deleted.is_deleted
    assert deleted.booking_reference_id == booking


def test_profile_changes_apply_only_the_given_fields() -> None:
    provider = Provider.register(Profile("John", "Doe", "Dentist", "MALE"))

    changed = provider.with_profile(ProfileChanges(speciality="Orthodontist").applied_to(
        provider.profile))  # fmt: skip

    assert changed.profile == Profile("John", "Doe", "Orthodontist", "MALE")
    assert changed.id == provider.id
    assert ProfileChanges().applied_to(provider.profile) == provider.profile


def test_deleting_a_provider_stamps_the_time_and_keeps_the_rest() -> None:
    provider = Provider.register(Profile("John", "Doe", "Dentist", "MALE"))

    deleted = provider.deleted(START)

    assert deleted.deleted_at == START
    assert deleted.is_deleted
    assert (deleted.id, deleted.profile) == (provider.id, provider.profile)
    assert not provider.is_deleted


def test_not_found_errors_name_what_is_missing() -> None:
    provider_id, availability_id = uuid.uuid4(), uuid.uuid4()

    provider_missing = ProviderNotFoundError(provider_id)
    slot_missing = AvailabilityNotFoundError(provider_id, availability_id)

    assert str(provider_missing) == f"provider {provider_id} does not exist"
    assert provider_missing.provider_id == provider_id
    assert str(slot_missing) == (
        f"availability {availability_id} of provider {provider_id} does not exist"
    )
    assert (slot_missing.provider_id, slot_missing.availability_id) == (
        provider_id,
        availability_id,
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 12, 1, 9), START + HALF_HOUR),
        (START, datetime(2026, 12, 1, 10)),
    ],
    ids=["naive-start", "naive-end"],
)
def test_either_end_without_an_offset_is_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidTimeRangeError) as refused:
        TimeRange(start, end)
    assert str(refused.value) == "fromDate and toDate need a time zone offset"


def test_a_range_starting_where_another_ends_does_not_overlap_it() -> None:
    later = TimeRange(START + HALF_HOUR, START + 2 * HALF_HOUR)
    assert not later.overlaps(TimeRange(START, START + HALF_HOUR))


def test_opened_slot_belongs_to_its_provider() -> None:
    provider_id = uuid.uuid4()
    slot = Availability.open(provider_id, TimeRange(START, START + HALF_HOUR),
                             EncounterType.VIRTUAL)  # fmt: skip
    assert (slot.provider_id, slot.encounter_type) == (provider_id, EncounterType.VIRTUAL)


def test_rescheduling_takes_the_new_time_and_encounter_type() -> None:
    later = TimeRange(START + HALF_HOUR, START + 2 * HALF_HOUR)
    slot = _slot()

    moved = slot.rescheduled(later, EncounterType.VIRTUAL)
    retyped = slot.rescheduled(slot.time_range, EncounterType.VIRTUAL)

    assert (moved.time_range, moved.encounter_type) == (later, EncounterType.VIRTUAL)
    assert (retyped.time_range, retyped.encounter_type) == (slot.time_range, EncounterType.VIRTUAL)


def test_refusal_to_reschedule_a_booked_slot_names_the_slot() -> None:
    slot = _slot().booked_by(uuid.uuid4())
    with pytest.raises(AvailabilityBookedError) as refused:
        slot.rescheduled(slot.time_range, EncounterType.VIRTUAL)
    assert refused.value.availability_id == slot.id
    assert str(refused.value) == (
        f"availability {slot.id} is booked; its time and encounter type cannot change while a "
        "booking holds it (delete it to cancel the booking)"
    )


@pytest.mark.parametrize("field", ["first_name", "last_name", "speciality", "gender"])
def test_each_profile_field_can_change_alone(field: str) -> None:
    profile = Profile("John", "Doe", "Dentist", "MALE")
    changed = ProfileChanges(**{field: "NEW"}).applied_to(profile)
    assert getattr(changed, field) == "NEW"
    others = [f.name for f in fields(Profile) if f.name != field]
    assert [getattr(changed, f) for f in others] == [getattr(profile, f) for f in others]
