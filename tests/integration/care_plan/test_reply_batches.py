"""A poll's booking replies applied together (``handlers.answer_bookings`` through the reply
consumer's handler) against the real database: in order, each booking's events continuing its
own reply's trace, and the same effects as one reply at a time."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from care_plan.domain.model import Outcome
from care_plan.messaging import replies
from tests.integration.care_plan.conftest import Service
from tests.integration.care_plan.support import FakeProvider, new_traceparent, reply_event
from tests.integration.care_plan.test_bookings_api import (
    book,
    bookable,
    new_patient,
    published_slot,
    status_of,
)

pytestmark = pytest.mark.integration


async def test_a_batch_of_replies_is_applied_in_order_with_each_bookings_own_trace(
    service: Service, provider: FakeProvider
) -> None:
    patient = await new_patient(service)
    slots = [await published_slot(service, provider) for _ in range(3)]
    confirmed, rejected, changed_its_mind = [
        (await book(service, patient, slot)).json()["id"] for slot in slots
    ]
    async with service.sessions() as session, session.begin():
        # The test service expires a booking after 2 s: these wait for the batch below only.
        await session.execute(
            text("update care_plan.bookings set expires_at = now() + interval '1 hour'"
                 " where id = any(:ids)"),
            {"ids": [uuid.UUID(confirmed), uuid.UUID(rejected), uuid.UUID(changed_its_mind)]},
        )  # fmt: skip
    tp_confirmed, tp_rejected, tp_changed = new_traceparent(), new_traceparent(), new_traceparent()
    batch = [
        reply_event(confirmed, slots[0].id, confirmed=True, traceparent=tp_confirmed),
        reply_event(uuid.uuid4(), uuid.uuid4(), confirmed=True),  # not ours
        reply_event(rejected, slots[1].id, confirmed=False, reason="no", traceparent=tp_rejected),
        reply_event(confirmed, slots[0].id, confirmed=True),  # repeated: changes nothing
        reply_event(changed_its_mind, slots[2].id, confirmed=False, traceparent=tp_changed),
        reply_event(changed_its_mind, slots[2].id, confirmed=True),  # after its rejection
    ]
    answer = replies.booking_replies_handler(service.container.units)

    async with service.container.database.transaction() as connection:
        outcomes = await answer(connection, batch)

    assert outcomes == [
        Outcome.APPLIED, None, Outcome.APPLIED, Outcome.ALREADY, Outcome.APPLIED, Outcome.TOO_LATE,
    ]  # fmt: skip
    assert [await status_of(service, patient, b) for b in (confirmed, rejected, changed_its_mind)] == [
        "CONFIRMED", "REJECTED", "REJECTED",
    ]  # fmt: skip
    assert [await bookable(service, slot) for slot in slots] == [False, True, True]
    async with service.sessions() as session:
        staged = (
            await session.execute(
                text("select event_type, subject, traceparent from care_plan.outbox"
                     " where subject = any(:ids) and event_type <> 'BOOKING_CREATION_REQUEST'"
                     " order by position"),
                {"ids": [confirmed, rejected, changed_its_mind]},
            )
        ).all()  # fmt: skip
    assert [tuple(row) for row in staged] == [
        ("BOOKING_CONFIRMED", confirmed, tp_confirmed),
        ("BOOKING_REJECTED", rejected, tp_rejected),
        ("BOOKING_REJECTED", changed_its_mind, tp_changed),
    ]
