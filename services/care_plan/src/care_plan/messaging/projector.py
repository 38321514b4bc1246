"""The availability projector: ``provider.availability`` -> the read model ``care_plan.slots``.

Idempotent and ordered. The inbox drops a redelivered event (same ``ce_id``); the version rule
(``domain.rules.supersedes``, applied by ``service_layer.handlers.project_availabilities``) drops
a duplicate or an older event, whichever way it arrived (the Java producer keys by event type,
so one availability's events may cross partitions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter

from care_plan.domain.rules import Stamp
from care_plan.persistence.read_model import SlotState
from care_plan.service_layer import handlers
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from contract.events import AvailabilityEvent, EventType
from eventing.cloudevents import Event
from eventing.database import Connection
from eventing.inbox import EventsHandler

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "care-plan.availability-projector"
IGNORED = "ignored"  # an event type this service does not know
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


def availability_projector(units: UnitOfWorkFactory) -> EventsHandler:
    """A handler for ``eventing.inbox.idempotent_set`` (and, through ``one_at_a_time``,
    ``idempotent``): it runs inside the inbox's transaction and applies a poll's events
    together (``handlers.project_availabilities``)."""

    async def project(connection: Connection, events: Sequence[Event]) -> list[str]:
        known: list[tuple[Event, SlotState]] = []
        for event in events:
            if (state := read_event(event)) is None:
                logger.warning(
                    "unknown availability event type ignored",
                    extra={"ce_id": event.id, "type": event.type},
                )
                PROJECTED.labels(event.type, IGNORED).inc()
            else:
                known.append((event, state))
        # The only events a projection stages are the cancellations of a deleted slot's
        # bookings; they continue the deletion's trace (a slot is deleted once: nothing
        # applies over a deletion).
        deletions = {
            state.id: event.traceparent
            for event, state in reversed(known)
            if state.deleted_at is not None
        }
        async with units.joining(
            connection, traceparent_of=lambda booking: deletions.get(booking.availability_id)
        ) as uow:
            projected = await handlers.project_availabilities([s for _, s in known], uow)
        for (event, _), outcome in zip(known, projected, strict=True):
            PROJECTED.labels(event.type, outcome.value).inc()
        return [outcome.value for outcome in projected]

    return project
