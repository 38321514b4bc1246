"""The booking aggregate and its state machine.

A booking is a saga step: the provider side owns the slot and decides whether it can be held;
this service owns the booking. Every transition appends the events it causes to
``booking.events``; the caller stores them in the outbox in the same transaction.

    WAITING_FOR_CONFIRMATION --confirm--> CONFIRMED
            |  \\--reject--> REJECTED            |
            |  \\--expire--> EXPIRED              |
            +--cancel_by_patient / _by_provider--+--> CANCELLED_BY_PATIENT / CANCELLED_BY_PROVIDER
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from care_plan.domain.errors import BookingNotCancellableError
from care_plan.domain.events import (
    BookingCancelled,
    BookingConfirmed,
    BookingExpired,
    BookingRejected,
    BookingRequested,
    CancellationRequested,
    DomainEvent,
)
from contract.events import BookingStatus, EncounterType, PaymentMode

# A live booking holds its slot: no second booking of the slot may be requested meanwhile.
LIVE_STATUSES: frozenset[BookingStatus] = frozenset(
    {BookingStatus.WAITING_FOR_CONFIRMATION, BookingStatus.CONFIRMED}
)
TERMINAL_STATUSES: frozenset[BookingStatus] = frozenset(BookingStatus) - LIVE_STATUSES


class Outcome(StrEnum):
    """What a transition did; anything but APPLIED changed nothing and emitted nothing."""

    APPLIED = "applied"
    ALREADY = "already"  # the booking is already in the target state (a duplicate)
    TOO_LATE = "too-late"  # the booking ended first (a late reply, a reply after expiry)
    NOT_DUE = "not-due"  # an expiry before the deadline


@dataclass(frozen=True, slots=True)
class Insurance:
    payer: str
    member_id: str
    plan: str
    valid_until: date


class InsuranceFields(Protocol):
    """An insurance profile in any of its shapes (the API's body, the contract's snapshot)."""

    @property
    def payer(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def valid_until(self) -> date: ...


class PatientFields(Protocol):
    """A patient's data in any of its shapes; the id travels apart (a body has none)."""

    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def gender(self) -> str: ...
    @property
    def date_of_birth(self) -> date: ...
    @property
    def insurance(self) -> InsuranceFields | None: ...


@dataclass(frozen=True, slots=True)
class Patient:
    """The wire shapes (the API's ``PatientOut``, the contract's ``PatientSnapshot``) are read
    from a patient's attributes by pydantic (``from_attributes``); ``of`` is the one way back."""

    id: UUID
    first_name: str
    last_name: str
    gender: str
    date_of_birth: date
    insurance: Insurance | None = None

    @classmethod
    def of(cls, fields: PatientFields, *, id: UUID) -> Patient:
        insurance = fields.insurance
        return cls(
            id=id,
            first_name=fields.first_name,
            last_name=fields.last_name,
            gender=fields.gender,
            date_of_birth=fields.date_of_birth,
            insurance=Insurance(
                insurance.payer, insurance.member_id, insurance.plan, insurance.valid_until
            )
            if insurance is not None
            else None,
        )


@dataclass(frozen=True, slots=True)
class SlotSnapshot:
    """The slot as it was when booked: travels with every booking event (event-carried state)."""

    from_date: datetime
    to_date: datetime
    provider_id: UUID
    speciality: str
    encounter_type: EncounterType


@dataclass(eq=False, slots=True)
class Booking:
    id: UUID
    patient_id: UUID
    availability_id: UUID
    payment_mode: PaymentMode
    slot: SlotSnapshot
    created_at: datetime
    expires_at: datetime
    status: BookingStatus = BookingStatus.WAITING_FOR_CONFIRMATION
    reason: str | None = None
    idempotency_key: str | None = None
    # The patient as at the request; every event of the booking carries this, so that a later
    # change of insurance does not make its events disagree. None only for old bookings.
    patient: Patient | None = None
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def request(
        cls,
        *,
        id: UUID,
        patient_id: UUID,
        availability_id: UUID,
        payment_mode: PaymentMode,
        slot: SlotSnapshot,
        now: datetime,
        timeout: timedelta,
        idempotency_key: str | None = None,
        patient: Patient | None = None,
    ) -> Booking:
        booking = cls(
            id=id,
            patient_id=patient_id,
            availability_id=availability_id,
            payment_mode=payment_mode,
            slot=slot,
            created_at=now,
            expires_at=now + timeout,
            idempotency_key=idempotency_key,
            patient=patient,
        )
        booking.events.append(BookingRequested(id))
        return booking

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def confirm(self, slot: SlotSnapshot | None = None) -> Outcome:
        """The provider side holds the slot; ``slot`` is the slot as it is known now."""
        if self.status is BookingStatus.CONFIRMED:
            return Outcome.ALREADY
        if self.status is not BookingStatus.WAITING_FOR_CONFIRMATION:
            # Expired or cancelled first: the cancellation request sent then, ordered after the
            # creation request on the slot's key, releases the slot the provider now holds.
            return Outcome.TOO_LATE
        self.status = BookingStatus.CONFIRMED
        self.slot = slot or self.slot
        self.events.append(BookingConfirmed(self.id))
        return Outcome.APPLIED

    def reject(self, reason: str) -> Outcome:
        if self.status is BookingStatus.REJECTED:
            return Outcome.ALREADY
        if self.status is not BookingStatus.WAITING_FOR_CONFIRMATION:
            return Outcome.TOO_LATE
        self.status = BookingStatus.REJECTED
        self.reason = reason
        self.events.append(BookingRejected(self.id, reason))
        return Outcome.APPLIED

    def expire(self, now: datetime) -> Outcome:
        if self.status is BookingStatus.EXPIRED:
            return Outcome.ALREADY
        if self.status is not BookingStatus.WAITING_FOR_CONFIRMATION:
            return Outcome.TOO_LATE
        if now < self.expires_at:
            return Outcome.NOT_DUE
        self.status = BookingStatus.EXPIRED
        self.reason = "no reply from the provider side in time"
        # The provider side may still hold the slot for this booking (its reply was only late):
        # the cancellation request makes sure it is released.
        self.events += [BookingExpired(self.id), CancellationRequested(self.id)]
        return Outcome.APPLIED

    def cancel_by_patient(self) -> Outcome:
        if self.status is BookingStatus.CANCELLED_BY_PATIENT:
            return Outcome.ALREADY
        if not self.is_live:
            raise BookingNotCancellableError(
                f"booking {self.id} is {self.status.value}: there is nothing to cancel"
            )
        self.status = BookingStatus.CANCELLED_BY_PATIENT
        self.events += [BookingCancelled(self.id), CancellationRequested(self.id)]
        return Outcome.APPLIED

    def cancel_by_provider(self, reason: str) -> Outcome:
        if self.status is BookingStatus.CANCELLED_BY_PROVIDER:
            return Outcome.ALREADY
        if not self.is_live:
            return Outcome.TOO_LATE
        self.status = BookingStatus.CANCELLED_BY_PROVIDER
        self.reason = reason
        # The slot is gone on the provider side: nothing to release there.
        self.events.append(BookingCancelled(self.id))
        return Outcome.APPLIED

    def collect_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events
