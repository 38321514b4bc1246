"""Domain events -> CloudEvents of the wire contract (CONTRACT.md sections 1 to 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contract import sources
from contract.events import (
    AvailabilityData,
    AvailabilityEvent,
    BookingReply,
    EventType,
    ProviderData,
)
from eventing.cloudevents import Event
from provider_schedule.domain.events import AvailabilityChanged, Change, DomainEvent
from provider_schedule.messaging.topics import ScheduleTopics

_AVAILABILITY_TYPES = {
    Change.CREATED: EventType.AVAILABILITY_CREATED,
    Change.UPDATED: EventType.AVAILABILITY_UPDATED,
    Change.DELETED: EventType.AVAILABILITY_DELETED,
}


def availability_payload(event: AvailabilityChanged, event_id: uuid.UUID) -> AvailabilityEvent:
    provider, slot = event.provider, event.availability
    return AvailabilityEvent(
        id=event_id,
        provider=ProviderData(
            id=provider.id,
            first_name=provider.profile.first_name,
            last_name=provider.profile.last_name,
            speciality=provider.profile.speciality,
            gender=provider.profile.gender,
        ),
        availability=AvailabilityData(
            id=slot.id,
            from_date=slot.time_range.start,
            to_date=slot.time_range.end,
            encounter_type=slot.encounter_type,
            booking_reference_id=slot.booking_reference_id,
            version=slot.version,
        ),
    )


class MessageMapper:
    def __init__(self, topics: ScheduleTopics) -> None:
        self._topics = topics

    def __call__(self, event: DomainEvent, traceparent: str | None) -> tuple[str, Event]:
        # The data's own ``id`` (contract 3) and ``ce_id`` are the same uuid.
        event_id = uuid.uuid4()
        now = datetime.now(UTC)
        if isinstance(event, AvailabilityChanged):
            slot_id = str(event.availability.id)
            return self._topics.availability, Event(
                id=str(event_id),
                source=sources.PROVIDER_SCHEDULE,
                type=_AVAILABILITY_TYPES[event.change].value,
                data=availability_payload(event, event_id).to_json_dict(),
                key=slot_id,
                subject=slot_id,
                time=now,
                traceparent=traceparent,
            )
        reply = BookingReply(
            booking_id=event.booking_id, availability_id=event.availability_id, reason=event.reason
        )
        kind = (
            EventType.BOOKING_REQUEST_CONFIRMED
            if event.confirmed
            else EventType.BOOKING_REQUEST_REJECTED
        )
        return self._topics.booking_replies, Event(
            id=str(event_id),
            source=sources.PROVIDER_SCHEDULE,
            type=kind.value,
            # ``reason`` only on rejections, as the contract's example shows.
            data=reply.model_dump(mode="json", by_alias=True, exclude_none=True),
            key=str(event.booking_id),
            subject=str(event.booking_id),
            time=now,
            traceparent=traceparent,
        )
