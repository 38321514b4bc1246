"""The topics this service reads and writes; the contract's names unless configured otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from contract import topics


@dataclass(frozen=True, slots=True)
class ScheduleTopics:
    availability: str = topics.PROVIDER_AVAILABILITY
    booking_requests: str = topics.BOOKING_REQUESTS
    booking_replies: str = topics.BOOKING_REPLIES
