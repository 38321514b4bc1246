"""Rules that do not depend on a booking's state: payment mode, patient data, slot freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from care_plan.domain.errors import InvalidPatientError
from contract.events import PaymentMode

OLDEST_PLAUSIBLE_AGE_YEARS = 150


def default_payment_mode(requested: PaymentMode | None, *, has_insurance: bool) -> PaymentMode:
    """An explicit choice wins; otherwise insurance pays when the patient has a profile.

    Coverage is not judged here (the Insurance Processor decides it from the booking event), so
    an expired ``validUntil`` still defaults to ``INSURANCE_PAY``.
    """
    if requested is not None:
        return requested
    return PaymentMode.INSURANCE_PAY if has_insurance else PaymentMode.SELF_PAY


def check_date_of_birth(date_of_birth: date, *, today: date) -> None:
    if date_of_birth > today:
        raise InvalidPatientError("dateOfBirth must not be in the future")
    if date_of_birth.year < today.year - OLDEST_PLAUSIBLE_AGE_YEARS:
        raise InvalidPatientError(
            f"dateOfBirth must be within the last {OLDEST_PLAUSIBLE_AGE_YEARS} years"
        )


@dataclass(frozen=True, slots=True)
class Stamp:
    """How new an availability state is: the provider's per-availability version, else time."""

    version: int | None
    time: datetime | None


def supersedes(
    incoming: Stamp, current: Stamp, *, incoming_deletes: bool, current_deleted: bool
) -> bool:
    """Whether an availability event may overwrite the state the read model holds.

    Deletion is terminal (availability ids are never reused), so nothing overwrites a deleted
    slot and a deletion always applies. Otherwise versions decide when both sides have one,
    else event times; a duplicate (same version or time) never applies. With neither (a producer
    that sends no version and no time) arrival order is all there is.
    """
    if current_deleted:
        return False
    if incoming_deletes:
        return True
    if incoming.version is not None and current.version is not None:
        return incoming.version > current.version
    if incoming.time is not None and current.time is not None:
        return incoming.time > current.time
    return True


@dataclass(frozen=True, slots=True)
class SlotHold:
    """What the read model knows about a slot's availability for a new booking."""

    deleted: bool
    held_by: UUID | None
    # The provider's holder when it is a booking made elsewhere (never one of ours).
    held_elsewhere: UUID | None = None


def refusal(slot: SlotHold) -> str | None:
    """Why a slot cannot be booked at once, or None.

    Advisory: a deletion is final, its own live bookings this service owns, and a hold the
    provider reports for a booking made elsewhere stands until the provider reports it released.
    The provider side is the authority on the slot and rejects a request this check could not
    see coming (a read model that lags).
    """
    if slot.deleted:
        return "the provider deleted this availability"
    if slot.held_by is not None:
        return "the availability is held by another booking"
    if slot.held_elsewhere is not None:
        return "the provider reports the availability as booked by another booking"
    return None
