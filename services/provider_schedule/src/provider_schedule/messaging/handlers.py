"""The booking responder: answers ``provider.availability.booking.requests``.

Each request is handled in one transaction with its inbox mark: the slot decision, the reply
(``provider.availability.booking.replies``, key booking id) and, when the slot changed,
``AVAILABILITY_UPDATED``. A redelivered request (same ``ce_id``) changes nothing; a repeated
request with a new ``ce_id`` from the booking that holds the slot is confirmed again.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from contract.events import BookingRequest, EventType
from eventing.cloudevents import Event
from eventing.consumer_types import PermanentError
from eventing.database import Connection
from eventing.inbox import EventHandler
from provider_schedule.domain import commands
from provider_schedule.domain.decisions import Confirmed
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory
from provider_schedule.service_layer import handlers

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "provider-schedule.booking-responder"

BOOKING_REQUESTS = Counter(
    "provider_schedule_booking_requests_total",
    "Booking requests answered, by request type and outcome",
    ["type", "outcome"],
)


def booking_responder(units: UnitOfWorkFactory) -> EventHandler:
    """A handler for ``eventing.inbox.idempotent``: it runs inside the inbox's transaction."""

    async def respond(connection: Connection, event: Event) -> None:
        # A payload that does not fit raises pydantic's ValidationError: the runner parks
        # the record in the dead-letter topic, as it can never succeed.
        request = BookingRequest.model_validate(event.data)
        uow = units.joining(connection, traceparent=event.traceparent)
        log = {
            "ce_id": event.id,
            "booking_id": str(request.id),
            "availability_id": str(request.provider_availability_id),
        }
        if event.type == EventType.BOOKING_CREATION_REQUEST:
            decision = await handlers.request_booking(
                commands.RequestBooking(request.id, request.provider_availability_id), uow
            )
            if isinstance(decision, Confirmed):
                outcome = "confirmed" if decision.changed else "confirmed-again"
                logger.info("booking confirmed", extra={**log, "outcome": outcome})
            else:
                outcome = "rejected"
                logger.info("booking rejected", extra={**log, "reason": decision.reason})
        elif event.type == EventType.BOOKING_CANCELLATION_REQUEST:
            freed = await handlers.cancel_booking(
                commands.CancelBooking(request.id, request.provider_availability_id), uow
            )
            outcome = "freed" if freed else "not-held"
            logger.info("booking cancellation handled", extra={**log, "outcome": outcome})
        else:
            raise PermanentError(f"unexpected event type {event.type!r} on the booking requests")
        BOOKING_REQUESTS.labels(event.type, outcome).inc()

    return respond
