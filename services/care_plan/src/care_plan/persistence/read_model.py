"""Writes of the availability read model (``care_plan.slots``), as the projector needs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from care_plan.domain.rules import Stamp
from care_plan.persistence.tables import LIVE_STATUS_VALUES, bookings, slots


@dataclass(frozen=True, slots=True)
class SlotVersion:
    stamp: Stamp
    deleted: bool


@dataclass(frozen=True, slots=True)
class SlotState:
    """One availability as an event describes it."""

    id: UUID
    provider_id: UUID
    first_name: str
    last_name: str
    speciality: str
    gender: str
    from_date: datetime
    to_date: datetime
    encounter_type: str
    provider_booking_id: UUID | None
    stamp: Stamp
    event_id: str
    deleted_at: datetime | None

    def values(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "speciality": self.speciality,
            "gender": self.gender,
            "from_date": self.from_date,
            "to_date": self.to_date,
            "encounter_type": self.encounter_type,
            "provider_booking_id": self.provider_booking_id,
            "version": self.stamp.version,
            "event_time": self.stamp.time,
            "event_id": self.event_id,
            "deleted_at": self.deleted_at,
        }


class ReadModel:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_version(self, availability_id: UUID) -> SlotVersion | None:
        row = (
            await self._session.execute(
                select(slots.c.version, slots.c.event_time, slots.c.deleted_at)
                .where(slots.c.id == availability_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return SlotVersion(Stamp(row.version, row.event_time), deleted=row.deleted_at is not None)

    async def insert(self, state: SlotState) -> bool:
        """Add a slot not seen before; False if a concurrent writer added it first.

        ``held_by`` is taken from the bookings: after a rebuild the read model learns again
        which slots our live bookings hold.
        """
        live_booking = (
            select(bookings.c.id)
            .where(
                and_(
                    bookings.c.provider_availability_id == state.id,
                    bookings.c.status.in_(LIVE_STATUS_VALUES),
                )
            )
            .limit(1)
            .scalar_subquery()
        )
        result = await self._session.execute(
            insert(slots)
            .values(id=state.id, held_by=live_booking, **state.values())
            .on_conflict_do_nothing(index_elements=[slots.c.id])
            .returning(slots.c.id)
        )
        return result.first() is not None

    async def overwrite(self, state: SlotState) -> None:
        await self._session.execute(
            update(slots)
            .where(slots.c.id == state.id)
            .values(**state.values(), updated_at=func.now())
        )

    async def insert_all(self, states: list[SlotState]) -> None:
        """Bulk insert into an emptied read model, then mark the slots live bookings hold."""
        if states:
            await self._session.execute(
                insert(slots), [{"id": state.id, **state.values()} for state in states]
            )
        await self._session.execute(
            update(slots)
            .where(
                and_(
                    bookings.c.provider_availability_id == slots.c.id,
                    bookings.c.status.in_(LIVE_STATUS_VALUES),
                )
            )
            .values(held_by=bookings.c.id)
        )

    async def held_by_live_bookings(self) -> set[UUID]:
        """Availability ids that live bookings hold (a small set: the bookings in flight)."""
        rows = await self._session.execute(
            select(bookings.c.provider_availability_id)
            .distinct()
            .where(bookings.c.status.in_(LIVE_STATUS_VALUES))
        )
        return {row[0] for row in rows}

    async def clear(self) -> int:
        result = await self._session.execute(delete(slots))
        return int(result.rowcount)  # type: ignore[attr-defined]
