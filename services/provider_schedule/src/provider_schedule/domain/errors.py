"""What the domain refuses; the API turns each into a 4xx answer."""

from __future__ import annotations

from uuid import UUID


class ScheduleError(Exception):
    """Base of the domain's refusals."""


class ProviderNotFoundError(ScheduleError):
    def __init__(self, provider_id: UUID) -> None:
        super().__init__(f"provider {provider_id} does not exist")
        self.provider_id = provider_id


class AvailabilityNotFoundError(ScheduleError):
    def __init__(self, provider_id: UUID, availability_id: UUID) -> None:
        super().__init__(f"availability {availability_id} of provider {provider_id} does not exist")
        self.provider_id = provider_id
        self.availability_id = availability_id


class InvalidTimeRangeError(ScheduleError):
    """``fromDate`` must be strictly before ``toDate``."""


class AvailabilityBookedError(ScheduleError):
    """A booked slot keeps its time and encounter type while a booking holds it."""

    def __init__(self, availability_id: UUID) -> None:
        super().__init__(
            f"availability {availability_id} is booked; its time and encounter type cannot "
            "change while a booking holds it (delete it to cancel the booking)"
        )
        self.availability_id = availability_id
