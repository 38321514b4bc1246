"""Who may hold a slot: the booking responder's decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contract.events import EncounterType
from provider_schedule.domain.decisions import (
    Confirmed,
    Rejected,
    RejectionReason,
    decide_booking,
    decide_cancellation,
)
from provider_schedule.domain.model import Availability, TimeRange

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _slot() -> Availability:
    return Availability.open(
        uuid.uuid4(), TimeRange(START, START + timedelta(minutes=30)), EncounterType.ONSITE
    )


def test_free_slot_is_booked_and_its_version_grows() -> None:
    slot, booking = _slot(), uuid.uuid4()

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=booking, booking_cancelled=False
    )

    assert isinstance(decision, Confirmed)
    assert decision.changed
    assert decision.slot.booking_reference_id == booking
    assert decision.slot.version == slot.version + 1


def test_booking_that_holds_the_slot_is_confirmed_again_without_a_change() -> None:
    booking = uuid.uuid4()
    slot = _slot().booked_by(booking)

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=booking, booking_cancelled=False
    )

    assert decision == Confirmed(slot, changed=False)


def test_slot_held_by_another_booking_is_rejected_without_naming_it() -> None:
    holder = uuid.uuid4()
    slot = _slot().booked_by(holder)

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=uuid.uuid4(), booking_cancelled=False
    )

    assert isinstance(decision, Rejected)
    assert decision.reason.startswith(RejectionReason.ALREADY_BOOKED)
    assert str(slot.id) in decision.reason
    assert str(holder) not in decision.reason


def test_unknown_slot_is_rejected() -> None:
    availability_id = uuid.uuid4()

    decision = decide_booking(
        None, availability_id=availability_id, booking_id=uuid.uuid4(), booking_cancelled=False
    )

    assert decision == Rejected(RejectionReason.unknown_slot(availability_id))
    assert decision.reason.startswith("unknown slot")


def test_deleted_slot_is_rejected_even_for_its_former_holder() -> None:
    booking = uuid.uuid4()
    slot = _slot().booked_by(booking).deleted(datetime.now(UTC))

    for candidate in (booking, uuid.uuid4()):
        decision = decide_booking(
            slot, availability_id=slot.id, booking_id=candidate, booking_cancelled=False
        )
        assert decision == Rejected(RejectionReason.slot_deleted(slot.id))


def test_cancelled_booking_does_not_take_a_free_slot() -> None:
    slot, booking = _slot(), uuid.uuid4()

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=booking, booking_cancelled=True
    )

    assert decision == Rejected(RejectionReason.booking_cancelled(booking))
    assert decision.reason.startswith("booking was cancelled")
    assert str(booking) in decision.reason


def test_cancelled_booking_is_rejected_for_a_slot_held_by_another_without_naming_it() -> None:
    holder, booking = uuid.uuid4(), uuid.uuid4()
    slot = _slot().booked_by(holder)

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=booking, booking_cancelled=True
    )

    assert decision == Rejected(RejectionReason.booking_cancelled(booking))
    assert str(holder) not in decision.reason


def test_cancelled_booking_that_still_holds_the_slot_is_confirmed_again() -> None:
    # Its cancellation named another slot: the reply must agree with the slot it holds.
    booking = uuid.uuid4()
    slot = _slot().booked_by(booking)

    decision = decide_booking(
        slot, availability_id=slot.id, booking_id=booking, booking_cancelled=True
    )

    assert decision == Confirmed(slot, changed=False)


def test_cancelled_booking_for_a_missing_or_deleted_slot_gets_the_slot_reason() -> None:
    availability_id, booking = uuid.uuid4(), uuid.uuid4()
    deleted = _slot().deleted(datetime.now(UTC))

    missing = decide_booking(
        None, availability_id=availability_id, booking_id=booking, booking_cancelled=True
    )
    gone = decide_booking(
        deleted, availability_id=deleted.id, booking_id=booking, booking_cancelled=True
    )

    assert missing == Rejected(RejectionReason.unknown_slot(availability_id))
    assert gone == Rejected(RejectionReason.slot_deleted(deleted.id))


def test_cancellation_by_the_holder_frees_the_slot() -> None:
    booking = uuid.uuid4()
    slot = _slot().booked_by(booking)

    freed = decide_cancellation(slot, booking_id=booking)

    assert freed is not None
    assert freed.booking_reference_id is None
    assert freed.version == slot.version + 1


def test_cancellation_by_anyone_else_changes_nothing() -> None:
    slot = _slot().booked_by(uuid.uuid4())

    assert decide_cancellation(slot, booking_id=uuid.uuid4()) is None
    assert decide_cancellation(_slot(), booking_id=uuid.uuid4()) is None
    assert decide_cancellation(None, booking_id=uuid.uuid4()) is None


def test_cancellation_leaves_a_deleted_slot_deleted() -> None:
    booking = uuid.uuid4()
    slot = _slot().booked_by(booking).deleted(datetime.now(UTC))

    assert decide_cancellation(slot, booking_id=booking) is None
