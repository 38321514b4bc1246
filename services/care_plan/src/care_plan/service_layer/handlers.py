"""The use cases of Care Plan, one function per command, each inside one unit of work.

Every booking step locks the slot row, then the booking row (the lock order everywhere),
lets the domain decide, and writes the booking through ``uow.bookings``: its events reach the
outbox when the unit of work commits. The same steps serve the HTTP API, the reply and
availability consumers, and the expiry sweeper.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from prometheus_client import Counter

from care_plan.domain import commands
from care_plan.domain.decisions import (
    KnownSlot,
    Refused,
    decide_booking,
    replayed_booking,
    request_fingerprint,
    slot_at_confirmation,
)
from care_plan.domain.errors import (
    BookingNotFoundError,
    PatientNotFoundError,
    SlotNotBookableError,
    SlotNotFoundError,
)
from care_plan.domain.model import Booking, Outcome, Patient
from care_plan.domain.rules import supersedes
from care_plan.persistence.read_model import SlotState, SlotVersion
from care_plan.persistence.repository import IdempotencyKeyTakenError
from care_plan.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from eventing.audit import AuditEntry

logger = logging.getLogger(__name__)

TRANSITIONS = Counter(
    "care_plan_booking_transitions_total",
    "Booking state changes and ignored (duplicate or late) inputs",
    ["step", "outcome"],
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BookingClock:
    """How long the provider side has to answer, and what time it is (tests set both)."""

    timeout: timedelta
    now: Callable[[], datetime] = field(default=_utcnow)


@dataclass(frozen=True, slots=True)
class RequestedBooking:
    booking: Booking
    replayed: bool  # an earlier request with the same Idempotency-Key created it


class Projection(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    STALE = "stale"  # a duplicate or older event: the read model already holds newer state


# --- patients --------------------------------------------------------------------------------


async def register_patient(command: commands.RegisterPatient, uow: UnitOfWork) -> Patient:
    # Patients are this service's own business: no event.
    await uow.patients.add(command.patient)
    return command.patient


async def get_patient(patient_id: UUID, uow: UnitOfWork) -> Patient:
    patient = await uow.patients.get(patient_id)
    if patient is None:
        raise PatientNotFoundError(patient_id)
    return patient


async def replace_patient(command: commands.ReplacePatient, uow: UnitOfWork) -> Patient:
    """Bookings already made keep the patient as at their request (their snapshot)."""
    if not await uow.patients.replace(command.patient):
        raise PatientNotFoundError(command.patient.id)
    return command.patient


# --- bookings --------------------------------------------------------------------------------


async def request_booking(
    command: commands.RequestBooking,
    units: UnitOfWorkFactory,
    clock: BookingClock,
    *,
    traceparent: str | None = None,
    audit: AuditEntry | None = None,
) -> RequestedBooking:
    """Book a slot: the booking and its ``BOOKING_CREATION_REQUEST`` (and ``audit``'s record
    of the request), in one transaction.

    A request with the same Idempotency-Key for another slot may commit while this one runs
    (the slot locks do not serialise them); the key's unique index then refuses this one, and
    the second attempt reads what the first committed: its replay, or a reused-key refusal.
    """
    try:
        async with units.begin(traceparent=traceparent, audit=audit) as uow:
            return await _request_booking(command, uow, clock)
    except IdempotencyKeyTakenError:
        async with units.begin(traceparent=traceparent, audit=audit) as uow:
            return await _request_booking(command, uow, clock)


async def _request_booking(
    command: commands.RequestBooking, uow: UnitOfWork, clock: BookingClock
) -> RequestedBooking:
    patient = await get_patient(command.patient_id, uow)
    fingerprint = request_fingerprint(command.availability_id, command.payment_mode)
    # The key is read under the slot's lock, once: a request with the same key for this slot
    # may have committed while this one waited for the lock (its booking is the answer), and
    # one for another slot that commits meanwhile is caught by the key's unique index
    # (request_booking). Read before the lock as well, it cost every booking a query.
    slot = await uow.slots.lock(command.availability_id)
    if replay := await _replay(command, uow, fingerprint):
        return replay
    if slot is None:
        raise SlotNotFoundError(command.availability_id)
    decision = decide_booking(
        slot,
        patient=patient,
        booking_id=uuid.uuid4(),
        payment_mode=command.payment_mode,
        idempotency_key=command.idempotency_key,
        now=clock.now(),
        timeout=clock.timeout,
    )
    if isinstance(decision, Refused):
        TRANSITIONS.labels("request", "refused").inc()
        raise SlotNotBookableError(decision.reason)
    await uow.bookings.add(decision, fingerprint=fingerprint if command.idempotency_key else None)
    await uow.slots.hold(slot.id, decision.id)
    TRANSITIONS.labels("request", Outcome.APPLIED.value).inc()
    return RequestedBooking(decision, replayed=False)


async def _replay(
    command: commands.RequestBooking, uow: UnitOfWork, fingerprint: str
) -> RequestedBooking | None:
    if command.idempotency_key is None:
        return None
    existing = await uow.bookings.by_idempotency_key(command.patient_id, command.idempotency_key)
    booking = replayed_booking(existing, fingerprint)
    return RequestedBooking(booking, replayed=True) if booking is not None else None


async def list_bookings(patient_id: UUID, uow: UnitOfWork) -> list[Booking]:
    await get_patient(patient_id, uow)
    return await uow.bookings.for_patient(patient_id)


async def get_booking(patient_id: UUID, booking_id: UUID, uow: UnitOfWork) -> Booking:
    booking = await uow.bookings.get(booking_id)
    if booking is None or booking.patient_id != patient_id:
        raise BookingNotFoundError(booking_id)
    return booking


async def cancel_booking(command: commands.CancelBooking, uow: UnitOfWork) -> Booking:
    booking, _ = await _lock(uow, command.booking_id)
    if booking is None or booking.patient_id != command.patient_id:
        raise BookingNotFoundError(command.booking_id)
    await _finish(uow, booking, "cancel-by-patient", booking.cancel_by_patient())
    return booking


async def answer_bookings(
    replies: Sequence[commands.ProviderAnswer], uow: UnitOfWork
) -> list[Outcome | None]:
    """The provider side's replies, in order, each one's outcome (None: the booking is not
    ours, another deployment's or one from before a reset).

    A handful of statements whatever the number of replies (the consumer hands it a poll's
    worth): every statement is a round trip that waits for its turn on Care Plan's event loop,
    and under overload that loop is busy with the requests. Applied one by one, ~5 statements
    a reply made a batch of twenty take 1-2 s at 5x overload, and the confirmations came in
    waves (README, Overload). Locks as every step does, slots then bookings, each set in id
    order. A booking answered twice in one call sees the first answer's effect."""
    known = await uow.bookings.get_many([reply.booking_id for reply in replies])
    slots = await uow.slots.lock_many({booking.availability_id for booking in known.values()})
    bookings = await uow.bookings.get_many(list(known), for_update=True)
    outcomes: list[Outcome | None] = []
    changed: dict[UUID, Booking] = {}
    for reply in replies:
        booking = bookings.get(reply.booking_id)
        if booking is None:
            outcomes.append(None)
            continue
        if isinstance(reply, commands.ConfirmBooking):
            step = "confirm"
            outcome = booking.confirm(slot_at_confirmation(slots.get(booking.availability_id)))
        else:
            step, outcome = "reject", booking.reject(reply.reason)
        _count(booking, step, outcome)
        if outcome is Outcome.APPLIED:
            changed[booking.id] = booking
        outcomes.append(outcome)
    await uow.bookings.save_many(list(changed.values()))
    await uow.slots.release([booking for booking in changed.values() if not booking.is_live])
    return outcomes


async def expire_booking(
    command: commands.ExpireBooking, uow: UnitOfWork, clock: BookingClock
) -> Outcome | None:
    booking, _ = await _lock(uow, command.booking_id)
    if booking is None:
        return None
    outcome = booking.expire(clock.now())
    await _finish(uow, booking, "expire", outcome)
    return outcome


async def cancel_bookings_of_slot(
    command: commands.CancelBookingsOfSlot, uow: UnitOfWork
) -> list[Booking]:
    """The provider deleted the slot: its live bookings end. The caller holds the slot lock."""
    cancelled = []
    for booking in await uow.bookings.live_for_slot(command.availability_id):
        await _finish(
            uow, booking, "cancel-by-provider", booking.cancel_by_provider(command.reason)
        )
        cancelled.append(booking)
    if cancelled:
        logger.info(
            "bookings cancelled by the provider",
            extra={
                "availability_id": str(command.availability_id),
                "bookings": [str(b.id) for b in cancelled],
            },
        )
    return cancelled


# --- the availability read model ------------------------------------------------------------


async def project_availabilities(states: Sequence[SlotState], uow: UnitOfWork) -> list[Projection]:
    """Apply availability states to the read model, in order, each unless the read model holds
    a newer one (``domain.rules.supersedes``); a deletion ends the slot's live bookings. The
    slots' row locks serialise this with the booking steps.

    A handful of statements whatever the number of states (the consumer hands it a poll's
    worth), for the reason ``answer_bookings`` gives: statement by statement, the projector's
    transaction held its slots' locks while it waited for the event loop, and the replies for
    the same slots waited on those locks."""
    states = await uow.read_model.stored_forms(states)
    outcomes, latest, new = _fold(
        states, await uow.read_model.lock_versions({s.id for s in states})
    )
    # In id order, as every lock is taken: two projectors inserting the same new slots wait
    # for each other's rows in one order, never in a cycle.
    inserted = await uow.read_model.insert_new([latest[slot] for slot in sorted(new)])
    if lost := new - inserted:
        # Another projector (the Java side keys one slot's events by type, so they may cross
        # partitions) inserted these first and committed (the insert waited for it): their
        # states are decided again against its rows, under their locks. A slot's outcome
        # depends on that slot's states only.
        positions = [n for n, state in enumerate(states) if state.id in lost]
        again, latest_again, _ = _fold(
            [states[n] for n in positions], await uow.read_model.lock_versions(lost)
        )
        for n, outcome in zip(positions, again, strict=True):
            outcomes[n] = outcome
        latest = {slot: s for slot, s in latest.items() if slot not in lost} | latest_again
        new = inserted
    await uow.read_model.overwrite([state for slot, state in latest.items() if slot not in new])
    for slot, state in latest.items():
        if state.deleted_at is not None:
            await cancel_bookings_of_slot(commands.CancelBookingsOfSlot(slot), uow)
    return outcomes


def _fold(
    states: Sequence[SlotState], current: dict[UUID, SlotVersion]
) -> tuple[list[Projection], dict[UUID, SlotState], set[UUID]]:
    """Each state's outcome against what the read model holds and the states before it; the
    state each changed slot ends with, and which of those slots are new."""
    current = dict(current)
    outcomes: list[Projection] = []
    latest: dict[UUID, SlotState] = {}
    new: set[UUID] = set()
    for state in states:
        deleting = state.deleted_at is not None
        known = current.get(state.id)
        if known is None:
            new.add(state.id)
            outcome = Projection.INSERTED
        elif supersedes(
            state.stamp, known.stamp, incoming_deletes=deleting, current_deleted=known.deleted
        ):
            outcome = Projection.UPDATED
        else:
            outcomes.append(Projection.STALE)
            continue
        current[state.id] = SlotVersion(state.stamp, deleted=deleting)
        latest[state.id] = state
        outcomes.append(outcome)
    return outcomes, latest, new


async def _lock(uow: UnitOfWork, booking_id: UUID) -> tuple[Booking | None, KnownSlot | None]:
    """The booking, locked after its slot (the lock order of every step), and the slot."""
    unlocked = await uow.bookings.get(booking_id)
    if unlocked is None:
        return None, None
    slot = await uow.slots.lock(unlocked.availability_id)
    return await uow.bookings.get(booking_id, for_update=True), slot


async def _finish(uow: UnitOfWork, booking: Booking, step: str, outcome: Outcome) -> None:
    _count(booking, step, outcome)
    if outcome is not Outcome.APPLIED:
        return
    await uow.bookings.save(booking)
    if not booking.is_live:
        await uow.slots.release([booking])


def _count(booking: Booking, step: str, outcome: Outcome) -> None:
    TRANSITIONS.labels(step, outcome.value).inc()
    if outcome is Outcome.TOO_LATE:
        logger.info(
            "input for an ended booking ignored",
            extra={"booking_id": str(booking.id), "step": step, "status": booking.status.value},
        )
