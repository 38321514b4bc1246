"""The booking responder: answers ``provider.availability.booking.requests``.

A poll's requests are handled in one transaction with their inbox marks: each slot decision,
the reply (``provider.availability.booking.replies``, key booking id) and, when the slot changed,
``AVAILABILITY_UPDATED``. A redelivered request (same ``ce_id``) changes nothing; a repeated
request with a new ``ce_id`` from the booking that holds the slot is confirmed again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import Counter

from contract.events import BookingRequest, EventType
from eventing.cloudevents import Event
from eventing.consumer_types import PermanentError
from eventing.database import Connection
from eventing.inbox import EventsHandler
from provider_schedule.domain import commands
from provider_schedule.domain.decisions import BookingDecision, Confirmed, Rejected
from provider_schedule.persistence.unit_of_work import UnitOfWorkFactory
from provider_schedule.service_layer import handlers

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "provider-schedule.booking-responder"

BOOKING_REQUESTS = Counter(
    "provider_schedule_booking_requests_total",
    "Booking requests answered, by request type and outcome",
    ["type", "outcome"],
)


def booking_responder(units: UnitOfWorkFactory) -> EventsHandler:
    """A handler for ``eventing.inbox.idempotent_set`` (and, through ``one_at_a_time``,
    ``idempotent``): it runs inside the inbox's transaction and answers a poll's requests
    together (``handlers.answer_requests``)."""

    async def respond(connection: Connection, events: Sequence[Event]) -> None:
        requests = [_request(event) for event in events]
        outcomes = await handlers.answer_requests(
            requests,
            units.joining(connection),
            traceparents=[event.traceparent for event in events],
        )
        for event, request, outcome in zip(events, requests, outcomes, strict=True):
            _report(event, request, outcome)

    return respond


def _request(event: Event) -> commands.BookingRequest:
    """The command a request asks for. A payload that does not fit raises pydantic's
    ValidationError, an unknown type ``PermanentError``: the runner parks that record in the
    dead-letter topic, as it can never succeed."""
    request = BookingRequest.model_validate(event.data)
    if event.type == EventType.BOOKING_CREATION_REQUEST:
        return commands.RequestBooking(request.id, request.provider_availability_id)
    if event.type == EventType.BOOKING_CANCELLATION_REQUEST:
        return commands.CancelBooking(request.id, request.provider_availability_id)
    raise PermanentError(f"unexpected event type {event.type!r} on the booking requests")


def _report(
    event: Event, request: commands.BookingRequest, outcome: BookingDecision | bool
) -> None:
    log = {
        "ce_id": event.id,
        "booking_id": str(request.booking_id),
        "availability_id": str(request.availability_id),
    }
    if isinstance(request, commands.CancelBooking):
        counted = "freed" if outcome else "not-held"
        logger.info("booking cancellation handled", extra={**log, "outcome": counted})
    elif isinstance(outcome, Confirmed):
        counted = "confirmed" if outcome.changed else "confirmed-again"
        logger.info("booking confirmed", extra={**log, "outcome": counted})
    else:
        counted = "rejected"
        reason = outcome.reason if isinstance(outcome, Rejected) else None
        logger.info("booking rejected", extra={**log, "reason": reason})
    BOOKING_REQUESTS.labels(event.type, counted).inc()
