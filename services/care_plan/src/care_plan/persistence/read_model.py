"""Writes of the availability read model (``care_plan.slots``), as the projector needs them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    not_,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
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

    async def stored_form(self, state: SlotState) -> SlotState:
        """The state as the read model keeps it: the provider's holder only if foreign.

        A ``bookingReferenceId`` naming one of our own bookings is dropped: ``held_by`` tracks
        that hold and knows when it ends (our cancellation request then travels on the slot's
        key ahead of any later request of ours). Any other holder (a booking made through
        another deployment) keeps the slot out of search until the provider reports it free.
        Our booking is committed before the provider can ever name it, so the lookup sees it.
        """
        if state.provider_booking_id is None:
            return state
        ours = (
            await self._session.execute(
                select(bookings.c.id).where(bookings.c.id == state.provider_booking_id)
            )
        ).first()
        return replace(state, provider_booking_id=None) if ours else state

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

    async def lock_for_rebuild(self) -> None:
        """Keep every other writer of the read model out until this transaction ends.

        Waits for the projector's and the saga's transactions in flight; later ones queue on
        their slot lock until the rebuild commits. Searches (plain reads) go on meanwhile.
        """
        await self._session.execute(text(f"LOCK TABLE {slots.fullname} IN EXCLUSIVE MODE"))

    async def upsert_newer(self, states: list[SlotState]) -> int:
        """Write each state unless the row holds one as new or newer; the rows written.

        The SQL form of ``domain.rules.supersedes``: nothing overwrites a deleted slot, a
        deletion always applies, then versions decide when both sides have one, else event
        times, else the incoming state wins.
        """
        if not states:
            return 0
        statement = insert(slots)
        incoming = statement.excluded
        newer = and_(
            slots.c.deleted_at.is_(None),
            or_(
                incoming.deleted_at.is_not(None),
                case(
                    (
                        and_(incoming.version.is_not(None), slots.c.version.is_not(None)),
                        incoming.version > slots.c.version,
                    ),
                    (
                        and_(incoming.event_time.is_not(None), slots.c.event_time.is_not(None)),
                        incoming.event_time > slots.c.event_time,
                    ),
                    else_=true(),
                ),
            ),
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[slots.c.id],
            set_={
                **{name: incoming[name] for name in states[0].values()},
                "updated_at": func.now(),
            },
            where=newer,
        ).returning(slots.c.id)
        result = await self._session.execute(
            upsert, [{"id": state.id, **state.values()} for state in states]
        )
        return len(result.all())

    async def delete_unknown(self, known: Iterable[UUID], *, untouched_since: datetime) -> int:
        """Delete the rows of availabilities not in ``known`` that nobody wrote since then.

        A row written after ``untouched_since`` (the projector's, from an event the rebuild read
        too late to see) stays: its event is in the inbox and would never be applied again.
        """
        ids = bindparam("known", list(known), type_=ARRAY(PG_UUID(as_uuid=True)))
        result = await self._session.execute(
            delete(slots).where(
                and_(slots.c.updated_at < untouched_since, not_(slots.c.id == any_(ids)))
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_own_holds(self) -> int:
        """``stored_form`` for every row at once: drop holders that are our own bookings."""
        result = await self._session.execute(
            update(slots)
            .where(slots.c.provider_booking_id.in_(select(bookings.c.id)))
            .values(provider_booking_id=None, updated_at=func.now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def hold_for_live_bookings(self) -> None:
        """``held_by`` as the bookings say: our live booking of the slot, else nothing."""
        await self._session.execute(
            update(slots)
            .where(
                and_(
                    bookings.c.provider_availability_id == slots.c.id,
                    bookings.c.status.in_(LIVE_STATUS_VALUES),
                    slots.c.held_by.is_distinct_from(bookings.c.id),
                )
            )
            .values(held_by=bookings.c.id, updated_at=func.now())
        )
        live_hold = (
            select(bookings.c.id)
            .where(
                and_(
                    bookings.c.id == slots.c.held_by,
                    bookings.c.provider_availability_id == slots.c.id,
                    bookings.c.status.in_(LIVE_STATUS_VALUES),
                )
            )
            .exists()
        )
        await self._session.execute(
            update(slots)
            .where(and_(slots.c.held_by.is_not(None), not_(live_hold)))
            .values(held_by=None, updated_at=func.now())
        )

    async def deleted_with_live_bookings(self) -> set[UUID]:
        """Deleted slots that live bookings still hold (the provider's deletion was missed)."""
        rows = await self._session.execute(
            select(bookings.c.provider_availability_id)
            .distinct()
            .join(slots, slots.c.id == bookings.c.provider_availability_id)
            .where(and_(bookings.c.status.in_(LIVE_STATUS_VALUES), slots.c.deleted_at.is_not(None)))
        )
        return {row[0] for row in rows}

    async def now(self) -> datetime:
        """The database's clock (the one ``updated_at`` is written with)."""
        return (await self._session.execute(select(func.now()))).scalar_one()
