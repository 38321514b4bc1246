"""Providers and their availabilities (slots).

Both are immutable values: every change returns a new value. An availability carries a
``version`` that grows by one on every change, published with each event so that consumers can
drop events older than the state they already hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from contract.events import EncounterType
from provider_schedule.domain.errors import AvailabilityBookedError, InvalidTimeRangeError

FIRST_VERSION = 1


@dataclass(frozen=True, slots=True)
class Profile:
    first_name: str
    last_name: str
    speciality: str
    gender: str


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial update (PATCH): ``None`` leaves a field as it is."""

    first_name: str | None = None
    last_name: str | None = None
    speciality: str | None = None
    gender: str | None = None

    def applied_to(self, profile: Profile) -> Profile:
        return Profile(
            first_name=self.first_name if self.first_name is not None else profile.first_name,
            last_name=self.last_name if self.last_name is not None else profile.last_name,
            speciality=self.speciality if self.speciality is not None else profile.speciality,
            gender=self.gender if self.gender is not None else profile.gender,
        )


@dataclass(frozen=True, slots=True)
class Provider:
    id: UUID
    profile: Profile
    deleted_at: datetime | None = None

    @classmethod
    def register(cls, profile: Profile, *, provider_id: UUID | None = None) -> Provider:
        return cls(id=provider_id or uuid.uuid4(), profile=profile)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def with_profile(self, profile: Profile) -> Provider:
        return replace(self, profile=profile)

    def deleted(self, at: datetime) -> Provider:
        return replace(self, deleted_at=at)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range ``[start, end)``: back-to-back slots do not overlap."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidTimeRangeError("fromDate and toDate need a time zone offset")
        if self.start >= self.end:
            raise InvalidTimeRangeError(
                f"fromDate ({self.start.isoformat()}) must be before "
                f"toDate ({self.end.isoformat()})"
            )

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Availability:
    id: UUID
    provider_id: UUID
    time_range: TimeRange
    encounter_type: EncounterType = EncounterType.NOT_SELECTED
    booking_reference_id: UUID | None = None
    version: int = FIRST_VERSION
    deleted_at: datetime | None = None

    @classmethod
    def open(
        cls,
        provider_id: UUID,
        time_range: TimeRange,
        encounter_type: EncounterType,
        *,
        availability_id: UUID | None = None,
    ) -> Availability:
        return cls(
            id=availability_id or uuid.uuid4(),
            provider_id=provider_id,
            time_range=time_range,
            encounter_type=encounter_type,
        )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_booked(self) -> bool:
        return self.booking_reference_id is not None

    def _next(self, **changes: object) -> Availability:
        return replace(self, **changes, version=self.version + 1)  # type: ignore[arg-type]

    def rescheduled(self, time_range: TimeRange, encounter_type: EncounterType) -> Availability:
        """The slot with a new time and encounter type; itself when nothing changes."""
        if time_range == self.time_range and encounter_type == self.encounter_type:
            return self
        if self.is_booked:
            raise AvailabilityBookedError(self.id)
        return self._next(time_range=time_range, encounter_type=encounter_type)

    def booked_by(self, booking_id: UUID) -> Availability:
        return self._next(booking_reference_id=booking_id)

    def released(self) -> Availability:
        return self._next(booking_reference_id=None)

    def deleted(self, at: datetime) -> Availability:
        # The booking reference stays: the deletion event tells its holder who was cancelled.
        return self._next(deleted_at=at)

    def republished(self) -> Availability:
        """A new version with the same slot: its provider's data changed."""
        return self._next()
