"""The booking reply handler: ``provider.availability.booking.replies`` -> booking state."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from care_plan.domain import commands
from care_plan.domain.model import Outcome
from care_plan.service_layer import handlers
from care_plan.service_layer.unit_of_work import UnitOfWorkFactory
from contract.events import BookingReply, EventType
from eventing.cloudevents import Event
from eventing.database import Connection
from eventing.inbox import EventsHandler

logger = logging.getLogger(__name__)

INBOX_CONSUMER = "care-plan.booking-replies"
DEFAULT_REJECTION = "rejected by the provider side"


def booking_replies_handler(units: UnitOfWorkFactory) -> EventsHandler:
    """A handler for ``eventing.inbox.idempotent_set`` (and, through ``one_at_a_time``,
    ``idempotent``): it runs inside the inbox's transaction and applies a poll's replies
    together (``handlers.answer_bookings``)."""

    async def answer(connection: Connection, events: Sequence[Event]) -> list[Outcome | None]:
        answers: list[commands.ProviderAnswer] = []
        traceparents: dict[UUID, str | None] = {}
        for event in events:
            if (answered := _answer(event)) is not None:
                answers.append(answered)
                # Only a booking's first reply can change it (the booking waits no more
                # after it), so its events continue that reply's trace.
                traceparents.setdefault(answered.booking_id, event.traceparent)
        async with units.joining(
            connection, traceparent_of=lambda booking: traceparents.get(booking.id)
        ) as uow:
            outcomes = await handlers.answer_bookings(answers, uow)
        for answered, outcome in zip(answers, outcomes, strict=True):
            if outcome is None:
                # Another deployment's booking, or one from before a database reset.
                logger.info(
                    "reply for an unknown booking ignored",
                    extra={"booking_id": str(answered.booking_id)},
                )
        return outcomes

    return answer


def _answer(event: Event) -> commands.ProviderAnswer | None:
    """The command a reply asks for; None (logged) for a type this service does not know.
    A payload that does not fit raises: the runner parks that record."""
    if event.type not in (EventType.BOOKING_REQUEST_CONFIRMED, EventType.BOOKING_REQUEST_REJECTED):
        logger.warning("unknown reply type ignored", extra={"ce_id": event.id, "type": event.type})
        return None
    reply = BookingReply.model_validate(event.data)
    if event.type == EventType.BOOKING_REQUEST_CONFIRMED:
        return commands.ConfirmBooking(reply.booking_id)
    return commands.RejectBooking(reply.booking_id, reply.reason or DEFAULT_REJECTION)
