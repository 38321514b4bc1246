"""Reads and writes of patients, bookings and the slots they hold, inside a caller's transaction.

Lock order, everywhere: the slot row first, then the booking row. Every transaction that emits
events for a booking holds that booking's row lock, so the outbox positions of one booking's
events (and, through the slot lock, of one slot's requests) follow their commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from care_plan.domain.model import Booking, Insurance, Patient, SlotSnapshot
from care_plan.domain.rules import SlotHold
from care_plan.persistence.tables import LIVE_STATUS_VALUES, bookings, patients, slots
from contract.events import BookingStatus, EncounterType, PaymentMode

# --- patients ---------------------------------------------------------------------------


def _patient_values(patient: Patient) -> dict[str, Any]:
    insurance = patient.insurance
    return {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "gender": patient.gender,
        "date_of_birth": patient.date_of_birth,
        "insurance_payer": insurance.payer if insurance else None,
        "insurance_member_id": insurance.member_id if insurance else None,
        "insurance_plan": insurance.plan if insurance else None,
        "insurance_valid_until": insurance.valid_until if insurance else None,
    }


def _patient(row: Row[Any]) -> Patient:
    insurance = None
    if row.insurance_payer is not None:
        insurance = Insurance(
            payer=row.insurance_payer,
            member_id=row.insurance_member_id,
            plan=row.insurance_plan,
            valid_until=row.insurance_valid_until,
        )
    return Patient(
        id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        gender=row.gender,
        date_of_birth=row.date_of_birth,
        insurance=insurance,
    )


class PatientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, patient: Patient) -> None:
        await self._session.execute(
            insert(patients).values(id=patient.id, **_patient_values(patient))
        )

    async def get(self, patient_id: UUID) -> Patient | None:
        row = (
            await self._session.execute(select(patients).where(patients.c.id == patient_id))
        ).first()
        return _patient(row) if row else None

    async def replace(self, patient: Patient) -> bool:
        result = await self._session.execute(
            update(patients)
            .where(patients.c.id == patient.id)
            .values(**_patient_values(patient), updated_at=func.now())
            .returning(patients.c.id)
        )
        return result.first() is not None


def patient_snapshot_json(patient: Patient) -> dict[str, Any]:
    """The patient as stored with a booking (the wire's field names)."""
    insurance = patient.insurance
    return {
        "id": str(patient.id),
        "firstName": patient.first_name,
        "lastName": patient.last_name,
        "gender": patient.gender,
        "dateOfBirth": patient.date_of_birth.isoformat(),
        "insurance": {
            "payer": insurance.payer,
            "memberId": insurance.member_id,
            "plan": insurance.plan,
            "validUntil": insurance.valid_until.isoformat(),
        }
        if insurance
        else None,
    }


def patient_from_snapshot(data: dict[str, Any]) -> Patient:
    insurance = data.get("insurance")
    return Patient(
        id=UUID(data["id"]),
        first_name=data["firstName"],
        last_name=data["lastName"],
        gender=data["gender"],
        date_of_birth=date.fromisoformat(data["dateOfBirth"]),
        insurance=Insurance(
            payer=insurance["payer"],
            member_id=insurance["memberId"],
            plan=insurance["plan"],
            valid_until=date.fromisoformat(insurance["validUntil"]),
        )
        if insurance
        else None,
    )


# --- bookings ---------------------------------------------------------------------------


def _booking(row: Row[Any]) -> Booking:
    return Booking(
        id=row.id,
        patient_id=row.patient_id,
        availability_id=row.provider_availability_id,
        payment_mode=PaymentMode(row.payment_mode),
        slot=SlotSnapshot(
            from_date=row.slot_from_date,
            to_date=row.slot_to_date,
            provider_id=row.slot_provider_id,
            speciality=row.slot_speciality,
            encounter_type=EncounterType(row.encounter_type),
        ),
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=BookingStatus(row.status),
        reason=row.reason,
        idempotency_key=row.idempotency_key,
        patient=patient_from_snapshot(row.patient_snapshot) if row.patient_snapshot else None,
    )


@dataclass(frozen=True, slots=True)
class KeyedBooking:
    booking: Booking
    fingerprint: str | None


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, booking: Booking, *, fingerprint: str | None) -> None:
        await self._session.execute(
            insert(bookings).values(
                id=booking.id,
                patient_id=booking.patient_id,
                provider_availability_id=booking.availability_id,
                status=booking.status.value,
                payment_mode=booking.payment_mode.value,
                reason=booking.reason,
                idempotency_key=booking.idempotency_key,
                request_fingerprint=fingerprint,
                slot_from_date=booking.slot.from_date,
                slot_to_date=booking.slot.to_date,
                slot_provider_id=booking.slot.provider_id,
                slot_speciality=booking.slot.speciality,
                encounter_type=booking.slot.encounter_type.value,
                patient_snapshot=patient_snapshot_json(booking.patient)
                if booking.patient
                else None,
                created_at=booking.created_at,
                expires_at=booking.expires_at,
            )
        )

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        query = select(bookings).where(bookings.c.id == booking_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _booking(row) if row else None

    async def by_idempotency_key(self, patient_id: UUID, key: str) -> KeyedBooking | None:
        row = (
            await self._session.execute(
                select(bookings).where(
                    and_(bookings.c.patient_id == patient_id, bookings.c.idempotency_key == key)
                )
            )
        ).first()
        return KeyedBooking(_booking(row), row.request_fingerprint) if row else None

    async def live_for_slot(self, availability_id: UUID) -> list[Booking]:
        """The slot's live bookings, locked (the caller holds the slot's lock already)."""
        rows = await self._session.execute(
            select(bookings)
            .where(
                and_(
                    bookings.c.provider_availability_id == availability_id,
                    bookings.c.status.in_(LIVE_STATUS_VALUES),
                )
            )
            .with_for_update()
        )
        return [_booking(row) for row in rows]

    async def for_patient(self, patient_id: UUID) -> list[Booking]:
        rows = await self._session.execute(
            select(bookings)
            .where(bookings.c.patient_id == patient_id)
            .order_by(bookings.c.created_at, bookings.c.id)
        )
        return [_booking(row) for row in rows]

    async def save(self, booking: Booking) -> None:
        await self._session.execute(
            update(bookings)
            .where(bookings.c.id == booking.id)
            .values(
                status=booking.status.value,
                reason=booking.reason,
                slot_from_date=booking.slot.from_date,
                slot_to_date=booking.slot.to_date,
                slot_provider_id=booking.slot.provider_id,
                slot_speciality=booking.slot.speciality,
                encounter_type=booking.slot.encounter_type.value,
                updated_at=func.now(),
            )
        )

    async def overdue(self, now: datetime, *, limit: int) -> Sequence[tuple[UUID, UUID]]:
        """(booking id, availability id) of waiting bookings past their deadline, oldest first."""
        rows = await self._session.execute(
            select(bookings.c.id, bookings.c.provider_availability_id)
            .where(
                and_(
                    bookings.c.status == BookingStatus.WAITING_FOR_CONFIRMATION.value,
                    bookings.c.expires_at <= now,
                )
            )
            .order_by(bookings.c.expires_at)
            .limit(limit)
        )
        return [(row.id, row.provider_availability_id) for row in rows]


# --- slots (the read model) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockedSlot:
    id: UUID
    hold: SlotHold
    snapshot: SlotSnapshot


class SlotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, availability_id: UUID) -> LockedSlot | None:
        """The slot, row-locked until the transaction ends: bookings of it queue here."""
        row = (
            await self._session.execute(
                select(
                    slots.c.id,
                    slots.c.deleted_at,
                    slots.c.held_by,
                    slots.c.provider_booking_id,
                    slots.c.from_date,
                    slots.c.to_date,
                    slots.c.provider_id,
                    slots.c.speciality,
                    slots.c.encounter_type,
                )
                .where(slots.c.id == availability_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return LockedSlot(
            id=row.id,
            hold=SlotHold(
                deleted=row.deleted_at is not None,
                held_by=row.held_by,
                held_elsewhere=row.provider_booking_id,
            ),
            snapshot=SlotSnapshot(
                from_date=row.from_date,
                to_date=row.to_date,
                provider_id=row.provider_id,
                speciality=row.speciality,
                encounter_type=EncounterType(row.encounter_type),
            ),
        )

    async def hold(self, availability_id: UUID, booking_id: UUID) -> None:
        await self._session.execute(
            update(slots)
            .where(slots.c.id == availability_id)
            .values(held_by=booking_id, updated_at=func.now())
        )

    async def release(self, availability_id: UUID, booking_id: UUID) -> None:
        """Offer the slot again, if this booking is the one holding it."""
        await self._session.execute(
            update(slots)
            .where(and_(slots.c.id == availability_id, slots.c.held_by == booking_id))
            .values(held_by=None, updated_at=func.now())
        )
