"""What callers ask the schedule to do (from HTTP or from Kafka)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contract.events import EncounterType
from provider_schedule.domain.model import Profile, ProfileChanges


@dataclass(frozen=True, slots=True)
class RegisterProvider:
    profile: Profile


@dataclass(frozen=True, slots=True)
class UpdateProvider:
    """PUT sends every field, PATCH some: both are a set of changes."""

    provider_id: UUID
    changes: ProfileChanges


@dataclass(frozen=True, slots=True)
class DeleteProvider:
    provider_id: UUID


@dataclass(frozen=True, slots=True)
class AddAvailability:
    provider_id: UUID
    from_date: datetime
    to_date: datetime
    encounter_type: EncounterType


@dataclass(frozen=True, slots=True)
class UpdateAvailability:
    provider_id: UUID
    availability_id: UUID
    from_date: datetime
    to_date: datetime
    encounter_type: EncounterType


@dataclass(frozen=True, slots=True)
class DeleteAvailability:
    provider_id: UUID
    availability_id: UUID


@dataclass(frozen=True, slots=True)
class RequestBooking:
    booking_id: UUID
    availability_id: UUID


@dataclass(frozen=True, slots=True)
class CancelBooking:
    booking_id: UUID
    availability_id: UUID


# What Care Plan asks of a slot over Kafka (``provider.availability.booking.requests``).
BookingRequest = RequestBooking | CancelBooking
