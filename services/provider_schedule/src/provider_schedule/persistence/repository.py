"""Loading and saving providers and availabilities inside the caller's transaction.

Locks: a transaction that emits events for a slot holds that slot's row lock, so the outbox
positions of one slot's events follow the order of its changes. Locks are taken provider
first, then slots in id order, everywhere; the booking responder takes only the slot's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contract.events import EncounterType
from provider_schedule.domain.model import Availability, Profile, Provider, TimeRange
from provider_schedule.persistence.tables import availabilities, cancelled_bookings, providers


class Lock(StrEnum):
    # SHARE keeps the provider as it is while a slot is added or changed: a concurrent
    # provider update waits, then republishes that slot with the new data too.
    SHARE = "share"
    UPDATE = "update"


class ConcurrentUpdateError(RuntimeError):
    """A row changed under a lock we hold: a bug, never an expected outcome."""


def _locked(query: Select[Any], lock: Lock | None) -> Select[Any]:
    if lock is Lock.UPDATE:
        return query.with_for_update()
    if lock is Lock.SHARE:
        return query.with_for_update(read=True)
    return query


class ProviderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, provider: Provider) -> None:
        await self._session.execute(insert(providers).values(id=provider.id, **_profile(provider)))

    async def get(
        self, provider_id: UUID, *, lock: Lock | None = None, include_deleted: bool = False
    ) -> Provider | None:
        query = select(providers).where(providers.c.id == provider_id)
        if not include_deleted:
            query = query.where(providers.c.deleted_at.is_(None))
        row = (await self._session.execute(_locked(query, lock))).first()
        return _provider(row) if row is not None else None

    async def page(self, *, offset: int, limit: int) -> tuple[list[Provider], int]:
        live = providers.c.deleted_at.is_(None)
        rows = await self._session.execute(
            select(providers)
            .where(live)
            .order_by(providers.c.last_name, providers.c.first_name, providers.c.id)
            .offset(offset)
            .limit(limit)
        )
        total = await self._session.scalar(select(func.count()).select_from(providers).where(live))
        return [_provider(row) for row in rows], int(total or 0)

    async def save(self, provider: Provider) -> None:
        await self._session.execute(
            update(providers)
            .where(providers.c.id == provider.id)
            .values(**_profile(provider), deleted_at=provider.deleted_at, updated_at=func.now())
        )


class AvailabilityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, availability: Availability) -> None:
        await self._session.execute(insert(availabilities).values(**_availability(availability)))

    async def get(self, availability_id: UUID, *, lock: Lock | None = None) -> Availability | None:
        """The slot, deleted or not: the booking responder tells the two apart."""
        query = select(availabilities).where(availabilities.c.id == availability_id)
        row = (await self._session.execute(_locked(query, lock))).first()
        return _availability_from(row) if row is not None else None

    async def live_of_provider(
        self, provider_id: UUID, *, lock: Lock | None = None
    ) -> list[Availability]:
        query = (
            select(availabilities)
            .where(availabilities.c.provider_id == provider_id)
            .where(availabilities.c.deleted_at.is_(None))
        )
        if lock is not None:
            # Locks are taken in id order so that two such transactions cannot deadlock.
            rows = await self._session.execute(_locked(query.order_by(availabilities.c.id), lock))
            return sorted(
                (_availability_from(row) for row in rows), key=lambda a: (a.time_range.start, a.id)
            )
        rows = await self._session.execute(
            query.order_by(availabilities.c.from_date, availabilities.c.id)
        )
        return [_availability_from(row) for row in rows]

    async def save(self, availability: Availability, *, previous_version: int) -> None:
        """Write a changed slot; the version guard catches an update that slipped past a lock."""
        values = _availability(availability)
        del values["id"]
        result = await self._session.execute(
            update(availabilities)
            .where(availabilities.c.id == availability.id)
            .where(availabilities.c.version == previous_version)
            .values(**values, updated_at=func.now())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdateError(
                f"availability {availability.id} is no longer at version {previous_version}"
            )

    async def save_all(self, changed: Sequence[tuple[Availability, int]]) -> None:
        for availability, previous_version in changed:
            await self.save(availability, previous_version=previous_version)


class CancelledBookingRepository:
    """The bookings whose cancellation was handled. Read and written under the slot's lock
    (the booking responder's only lock), which serialises a creation and a cancellation."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, booking_id: UUID, availability_id: UUID) -> None:
        """Idempotent: a repeated cancellation keeps the first record."""
        await self._session.execute(
            pg_insert(cancelled_bookings)
            .values(booking_id=booking_id, availability_id=availability_id)
            .on_conflict_do_nothing(index_elements=[cancelled_bookings.c.booking_id])
        )

    async def contains(self, booking_id: UUID) -> bool:
        found = await self._session.scalar(
            select(cancelled_bookings.c.booking_id).where(
                cancelled_bookings.c.booking_id == booking_id
            )
        )
        return found is not None


def _profile(provider: Provider) -> dict[str, str]:
    return {
        "first_name": provider.profile.first_name,
        "last_name": provider.profile.last_name,
        "speciality": provider.profile.speciality,
        "gender": provider.profile.gender,
    }


def _provider(row: Row[Any]) -> Provider:
    return Provider(
        id=row.id,
        profile=Profile(
            first_name=row.first_name,
            last_name=row.last_name,
            speciality=row.speciality,
            gender=row.gender,
        ),
        deleted_at=row.deleted_at,
    )


def _availability(availability: Availability) -> dict[str, Any]:
    return {
        "id": availability.id,
        "provider_id": availability.provider_id,
        "from_date": availability.time_range.start,
        "to_date": availability.time_range.end,
        "encounter_type": availability.encounter_type.value,
        "booking_reference_id": availability.booking_reference_id,
        "version": availability.version,
        "deleted_at": availability.deleted_at,
    }


def _availability_from(row: Row[Any]) -> Availability:
    return Availability(
        id=row.id,
        provider_id=row.provider_id,
        time_range=TimeRange(row.from_date, row.to_date),
        encounter_type=EncounterType(row.encounter_type),
        booking_reference_id=row.booking_reference_id,
        version=row.version,
        deleted_at=row.deleted_at,
    )
