"""The availability projector: ``provider.availability`` -> the read model ``care_plan.slots``.

Idempotent and ordered. The inbox drops a redelivered event (same ``ce_id``); the version rule
(``domain.rules.supersedes``) drops a duplicate or an older event, whichever way it arrived (the
Java producer keys by event type, so one availability's events may cross partitions). The row
lock taken here serialises writers of one slot, including the booking saga's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from prometheus_client import Counter

from care_plan.domain.rules import Stamp, supersedes
from care_plan.persistence.read_model import ReadModel, SlotState
from care_plan.saga import BookingSaga
from contract.events import AvailabilityEvent, EventType
from eventing.cloudevents import Event
from eventing.database import Connection

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "care-plan.availability-projector"
PROVIDER_DELETED_REASON = "the provider deleted the availability"
_KNOWN = {
    EventType.AVAILABILITY_CREATED.value,
    EventType.AVAILABILITY_UPDATED.value,
    EventType.AVAILABILITY_DELETED.value,
}

PROJECTED = Counter(
    "care_plan_projected_availability_events_total",
    "Availability events by what the read model did with them",
    ["type", "outcome"],
)


class Projection(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    STALE = "stale"  # a duplicate or older event: the read model already holds newer state
    IGNORED = "ignored"  # an event type this service does not know


def read_event(event: Event) -> SlotState | None:
    """The availability state an event describes; None for an event type we do not know.

    A payload that does not fit the contract raises pydantic's ValidationError (the consumer
    then parks the record in the dead-letter topic).
    """
    if event.type not in _KNOWN:
        return None
    payload = AvailabilityEvent.model_validate(event.data)
    return slot_state(payload, event, deleting=event.type == EventType.AVAILABILITY_DELETED.value)


def slot_state(payload: AvailabilityEvent, event: Event, *, deleting: bool) -> SlotState:
    provider, availability = payload.provider, payload.availability
    return SlotState(
        id=availability.id,
        provider_id=provider.id,
        first_name=provider.first_name,
        last_name=provider.last_name,
        speciality=provider.speciality,
        gender=provider.gender,
        from_date=availability.from_date,
        to_date=availability.to_date,
        encounter_type=availability.encounter_type.value,
        provider_booking_id=availability.booking_reference_id,
        stamp=Stamp(availability.version, event.time),
        event_id=event.id,
        deleted_at=(event.time or datetime.now(UTC)) if deleting else None,
    )


class AvailabilityProjector:
    def __init__(self, saga: BookingSaga) -> None:
        self._saga = saga

    async def __call__(self, connection: Connection, event: Event) -> Projection:
        outcome = await self._project(connection, event)
        PROJECTED.labels(event.type, outcome.value).inc()
        return outcome

    async def _project(self, connection: Connection, event: Event) -> Projection:
        state = read_event(event)
        if state is None:
            logger.warning(
                "unknown availability event type ignored",
                extra={"ce_id": event.id, "type": event.type},
            )
            return Projection.IGNORED
        deleting = state.deleted_at is not None
        read_model = ReadModel(connection)
        current = await read_model.lock_version(state.id)
        state = await read_model.stored_form(state)
        if current is None and await read_model.insert(state):
            outcome = Projection.INSERTED
        else:
            # Known already, or a concurrent writer inserted it first: compare under its lock.
            current = current or await read_model.lock_version(state.id)
            assert current is not None
            if not supersedes(
                state.stamp,
                current.stamp,
                incoming_deletes=deleting,
                current_deleted=current.deleted,
            ):
                return Projection.STALE
            await read_model.overwrite(state)
            outcome = Projection.UPDATED
        if deleting:
            await cancel_bookings_of_deleted_slot(
                self._saga, connection, state.id, event.traceparent
            )
        return outcome


async def cancel_bookings_of_deleted_slot(
    saga: BookingSaga, connection: Connection, availability_id: UUID, traceparent: str | None
) -> None:
    """The provider deleted the slot: its live bookings end (the caller holds the slot lock)."""
    cancelled = await saga.cancel_by_provider(
        connection, availability_id, PROVIDER_DELETED_REASON, traceparent=traceparent
    )
    if cancelled:
        logger.info(
            "bookings cancelled by the provider",
            extra={
                "availability_id": str(availability_id),
                "bookings": [str(b.id) for b in cancelled],
            },
        )
