"""Reads and writes of patients, bookings and the slots they hold, inside a caller's transaction.

Plain SQL on the caller's asyncpg connection (see ``eventing.database`` for why not the ORM).

Lock order, everywhere: the slot row first, then the booking row. Every transaction that emits
events for a booking holds that booking's row lock, so the outbox positions of one booking's
events (and, through the slot lock, of one slot's requests) follow their commit order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from asyncpg import Record
from asyncpg.exceptions import UniqueViolationError

from care_plan.domain.decisions import KeyedBooking, KnownSlot
from care_plan.domain.errors import SlotNotBookableError
from care_plan.domain.model import Booking, Insurance, Patient, SlotSnapshot
from care_plan.domain.rules import SlotHold
from care_plan.domain.snapshots import patient_of, patient_snapshot
from care_plan.persistence.tables import IDEMPOTENCY_KEY_INDEX, LIVE, LIVE_PER_SLOT_INDEX, SCHEMA
from contract.events import BookingStatus, EncounterType, PatientSnapshot, PaymentMode
from eventing.database import Connection, constraint_of

_PATIENTS = f"{SCHEMA}.patients"
_BOOKINGS = f"{SCHEMA}.bookings"
_SLOTS = f"{SCHEMA}.slots"

# --- patients ---------------------------------------------------------------------------

_PATIENT_COLUMNS = (
    "first_name, last_name, gender, date_of_birth, insurance_payer, insurance_member_id,"
    " insurance_plan, insurance_valid_until"
)


def _patient_values(patient: Patient) -> tuple[Any, ...]:
    """The values in ``_PATIENT_COLUMNS`` order."""
    insurance = patient.insurance
    return (
        patient.first_name,
        patient.last_name,
        patient.gender,
        patient.date_of_birth,
        insurance.payer if insurance else None,
        insurance.member_id if insurance else None,
        insurance.plan if insurance else None,
        insurance.valid_until if insurance else None,
    )


def _patient(row: Record) -> Patient:
    insurance = None
    if row["insurance_payer"] is not None:
        insurance = Insurance(
            payer=row["insurance_payer"],
            member_id=row["insurance_member_id"],
            plan=row["insurance_plan"],
            valid_until=row["insurance_valid_until"],
        )
    return Patient(
        id=row["id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        gender=row["gender"],
        date_of_birth=row["date_of_birth"],
        insurance=insurance,
    )


class PatientRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def add(self, patient: Patient) -> None:
        await self._connection.execute(
            f"insert into {_PATIENTS} (id, {_PATIENT_COLUMNS})"
            " values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            patient.id,
            *_patient_values(patient),
        )

    async def get(self, patient_id: UUID) -> Patient | None:
        row = await self._connection.fetchrow(
            f"select id, {_PATIENT_COLUMNS} from {_PATIENTS} where id = $1", patient_id
        )
        return _patient(row) if row else None

    async def replace(self, patient: Patient) -> bool:
        status = await self._connection.execute(
            f"update {_PATIENTS} set first_name = $2, last_name = $3, gender = $4,"
            " date_of_birth = $5, insurance_payer = $6, insurance_member_id = $7,"
            " insurance_plan = $8, insurance_valid_until = $9, updated_at = now() where id = $1",
            patient.id,
            *_patient_values(patient),
        )
        return bool(status == "UPDATE 1")


# --- bookings ---------------------------------------------------------------------------


def _booking(row: Record) -> Booking:
    return Booking(
        id=row["id"],
        patient_id=row["patient_id"],
        availability_id=row["provider_availability_id"],
        payment_mode=PaymentMode(row["payment_mode"]),
        slot=SlotSnapshot(
            from_date=row["slot_from_date"],
            to_date=row["slot_to_date"],
            provider_id=row["slot_provider_id"],
            speciality=row["slot_speciality"],
            encounter_type=EncounterType(row["encounter_type"]),
        ),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        status=BookingStatus(row["status"]),
        reason=row["reason"],
        idempotency_key=row["idempotency_key"],
        patient=_snapshot_patient(row["patient_snapshot"]),
    )


def _snapshot_patient(data: dict[str, Any] | None) -> Patient | None:
    return patient_of(PatientSnapshot.model_validate(data)) if data else None


class IdempotencyKeyTakenError(Exception):
    """A request with the same Idempotency-Key committed while this one ran: retry to read it."""


class BookingRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # The bookings written through this repository, in order: their events are staged in
        # the outbox when the unit of work's block ends.
        self.written: list[Booking] = []

    async def add(self, booking: Booking, *, fingerprint: str | None) -> None:
        """Raises ``SlotNotBookableError`` for a slot a live booking holds and
        ``IdempotencyKeyTakenError`` for a key a concurrent request committed first: the
        unique indexes are the last word on both races."""
        try:
            await self._insert(booking, fingerprint)
        except UniqueViolationError as error:
            constraint = constraint_of(error)
            if constraint == LIVE_PER_SLOT_INDEX:
                # Unreachable while the slot row lock serialises bookings; kept as the answer
                # the database's own guard would give.
                raise SlotNotBookableError("the availability is held by another booking") from error
            if constraint == IDEMPOTENCY_KEY_INDEX:
                raise IdempotencyKeyTakenError(constraint) from error
            raise
        self.written.append(booking)

    async def _insert(self, booking: Booking, fingerprint: str | None) -> None:
        await self._connection.execute(
            f"insert into {_BOOKINGS} (id, patient_id, provider_availability_id, status,"
            " payment_mode, reason, idempotency_key, request_fingerprint, slot_from_date,"
            " slot_to_date, slot_provider_id, slot_speciality, encounter_type, patient_snapshot,"
            " created_at, expires_at)"
            " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            booking.id,
            booking.patient_id,
            booking.availability_id,
            booking.status.value,
            booking.payment_mode.value,
            booking.reason,
            booking.idempotency_key,
            fingerprint,
            booking.slot.from_date,
            booking.slot.to_date,
            booking.slot.provider_id,
            booking.slot.speciality,
            booking.slot.encounter_type.value,
            patient_snapshot(booking.patient).to_json_dict() if booking.patient else None,
            booking.created_at,
            booking.expires_at,
        )

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        sql = f"select * from {_BOOKINGS} where id = $1"
        row = await self._connection.fetchrow(
            sql + (" for update" if for_update else ""), booking_id
        )
        return _booking(row) if row else None

    async def get_many(
        self, booking_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Booking]:
        """The bookings of these ids that exist, in one statement; locked in id order (the
        order every transaction that locks several takes) when ``for_update``."""
        sql = f"select * from {_BOOKINGS} where id = any($1::uuid[]) order by id"
        rows = await self._connection.fetch(
            sql + (" for update" if for_update else ""), list(booking_ids)
        )
        return {row["id"]: _booking(row) for row in rows}

    async def by_idempotency_key(self, patient_id: UUID, key: str) -> KeyedBooking | None:
        row = await self._connection.fetchrow(
            f"select * from {_BOOKINGS} where patient_id = $1 and idempotency_key = $2",
            patient_id,
            key,
        )
        return KeyedBooking(_booking(row), row["request_fingerprint"]) if row else None

    async def live_for_slot(self, availability_id: UUID) -> list[Booking]:
        """The slot's live bookings, locked (the caller holds the slot's lock already)."""
        rows = await self._connection.fetch(
            f"select * from {_BOOKINGS} where provider_availability_id = $1"
            f" and status in {LIVE} for update",
            availability_id,
        )
        return [_booking(row) for row in rows]

    async def for_patient(self, patient_id: UUID) -> list[Booking]:
        rows = await self._connection.fetch(
            f"select * from {_BOOKINGS} where patient_id = $1 order by created_at, id", patient_id
        )
        return [_booking(row) for row in rows]

    async def save(self, booking: Booking) -> None:
        await self.save_many([booking])

    async def save_many(self, bookings: Sequence[Booking]) -> None:
        """Write the bookings' state in one statement, whatever their number."""
        if not bookings:
            return
        await self._connection.execute(
            f"update {_BOOKINGS} as b set status = u.status, reason = u.reason,"
            " slot_from_date = u.from_date, slot_to_date = u.to_date,"
            " slot_provider_id = u.provider_id, slot_speciality = u.speciality,"
            " encounter_type = u.encounter_type, updated_at = now()"
            " from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],"
            " $5::timestamptz[], $6::uuid[], $7::text[], $8::text[])"
            " as u(id, status, reason, from_date, to_date, provider_id, speciality,"
            " encounter_type) where b.id = u.id",
            [booking.id for booking in bookings],
            [booking.status.value for booking in bookings],
            [booking.reason for booking in bookings],
            [booking.slot.from_date for booking in bookings],
            [booking.slot.to_date for booking in bookings],
            [booking.slot.provider_id for booking in bookings],
            [booking.slot.speciality for booking in bookings],
            [booking.slot.encounter_type.value for booking in bookings],
        )
        self.written.extend(bookings)

    async def overdue(self, now: datetime, *, limit: int) -> Sequence[tuple[UUID, UUID]]:
        """(booking id, availability id) of waiting bookings past their deadline, oldest first."""
        rows = await self._connection.fetch(
            f"select id, provider_availability_id from {_BOOKINGS}"
            " where status = 'WAITING_FOR_CONFIRMATION' and expires_at <= $1"
            " order by expires_at limit $2",
            now,
            limit,
        )
        return [(row["id"], row["provider_availability_id"]) for row in rows]


# --- slots (the read model) ------------------------------------------------------------


_SLOT_COLUMNS = (
    "id, deleted_at, held_by, provider_booking_id, from_date, to_date, provider_id, speciality,"
    " encounter_type"
)


def _known_slot(row: Record) -> KnownSlot:
    return KnownSlot(
        id=row["id"],
        hold=SlotHold(
            deleted=row["deleted_at"] is not None,
            held_by=row["held_by"],
            held_elsewhere=row["provider_booking_id"],
        ),
        snapshot=SlotSnapshot(
            from_date=row["from_date"],
            to_date=row["to_date"],
            provider_id=row["provider_id"],
            speciality=row["speciality"],
            encounter_type=EncounterType(row["encounter_type"]),
        ),
    )


class SlotRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def lock(self, availability_id: UUID) -> KnownSlot | None:
        """The slot, row-locked until the transaction ends: bookings of it queue here."""
        row = await self._connection.fetchrow(
            f"select {_SLOT_COLUMNS} from {_SLOTS} where id = $1 for update", availability_id
        )
        return _known_slot(row) if row else None

    async def lock_many(self, availability_ids: Collection[UUID]) -> dict[UUID, KnownSlot]:
        """The slots of these ids that exist, locked in id order, in one statement."""
        rows = await self._connection.fetch(
            f"select {_SLOT_COLUMNS} from {_SLOTS} where id = any($1::uuid[])"
            " order by id for update",
            list(availability_ids),
        )
        return {row["id"]: _known_slot(row) for row in rows}

    async def hold(self, availability_id: UUID, booking_id: UUID) -> None:
        await self._connection.execute(
            f"update {_SLOTS} set held_by = $2, updated_at = now() where id = $1",
            availability_id,
            booking_id,
        )

    async def release(self, bookings: Sequence[Booking]) -> None:
        """Offer each booking's slot again, if that booking is the one holding it (one
        statement)."""
        if not bookings:
            return
        await self._connection.execute(
            f"update {_SLOTS} as s set held_by = null, updated_at = now()"
            " from unnest($1::uuid[], $2::uuid[]) as r(id, booking_id)"
            " where s.id = r.id and s.held_by = r.booking_id",
            [booking.availability_id for booking in bookings],
            [booking.id for booking in bookings],
        )
