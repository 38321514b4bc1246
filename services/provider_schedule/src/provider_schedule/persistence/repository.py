"""Loading and saving providers and availabilities inside the caller's transaction.

Plain SQL on the caller's asyncpg connection (see ``eventing.database`` for why not the ORM);
the statements are prepared once per connection by asyncpg and reused.

Locks: a transaction that emits events for a slot holds that slot's row lock, so the outbox
positions of one slot's events follow the order of its changes. Locks are taken provider
first, then slots in id order, everywhere; the booking responder takes only the slot's lock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from typing import Any
from uuid import UUID

from asyncpg import Record

from contract.events import EncounterType
from eventing.database import Connection
from provider_schedule.domain.model import Availability, Profile, Provider, TimeRange
from provider_schedule.persistence.tables import SCHEMA

_PROVIDERS = f"{SCHEMA}.providers"
_SLOTS = f"{SCHEMA}.availabilities"
_CANCELLED = f"{SCHEMA}.cancelled_bookings"
_SLOT_COLUMNS = (
    "id, provider_id, from_date, to_date, encounter_type, booking_reference_id, version, deleted_at"
)


class Lock(StrEnum):
    # SHARE keeps the provider as it is while a slot is added or changed: a concurrent
    # provider update waits, then republishes that slot with the new data too.
    SHARE = "share"
    UPDATE = "update"

    @property
    def clause(self) -> str:
        return " for share" if self is Lock.SHARE else " for update"


class ConcurrentUpdateError(RuntimeError):
    """A row changed under a lock we hold: a bug, never an expected outcome."""


def _locked(sql: str, lock: Lock | None) -> str:
    return sql + (lock.clause if lock is not None else "")


class ProviderRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def add(self, provider: Provider) -> None:
        await self._connection.execute(
            f"insert into {_PROVIDERS} (id, first_name, last_name, speciality, gender)"
            " values ($1, $2, $3, $4, $5)",
            provider.id,
            *_profile(provider),
        )

    async def get(
        self, provider_id: UUID, *, lock: Lock | None = None, include_deleted: bool = False
    ) -> Provider | None:
        sql = f"select * from {_PROVIDERS} where id = $1"
        if not include_deleted:
            sql += " and deleted_at is null"
        row = await self._connection.fetchrow(_locked(sql, lock), provider_id)
        return _provider(row) if row is not None else None

    async def get_many(self, provider_ids: Collection[UUID]) -> dict[UUID, Provider]:
        """These providers, deleted ones included, in one statement."""
        rows = await self._connection.fetch(
            f"select * from {_PROVIDERS} where id = any($1::uuid[])", list(provider_ids)
        )
        return {row["id"]: _provider(row) for row in rows}

    async def page(self, *, offset: int, limit: int) -> tuple[list[Provider], int]:
        rows = await self._connection.fetch(
            f"select * from {_PROVIDERS} where deleted_at is null"
            " order by last_name, first_name, id offset $1 limit $2",
            offset,
            limit,
        )
        total = await self._connection.fetchval(
            f"select count(*) from {_PROVIDERS} where deleted_at is null"
        )
        return [_provider(row) for row in rows], int(total or 0)

    async def save(self, provider: Provider) -> None:
        await self._connection.execute(
            f"update {_PROVIDERS} set first_name = $2, last_name = $3, speciality = $4,"
            " gender = $5, deleted_at = $6, updated_at = now() where id = $1",
            provider.id,
            *_profile(provider),
            provider.deleted_at,
        )


class AvailabilityRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def add(self, availability: Availability) -> None:
        await self._connection.execute(
            f"insert into {_SLOTS} ({_SLOT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8)",
            *_availability(availability),
        )

    async def get(self, availability_id: UUID, *, lock: Lock | None = None) -> Availability | None:
        """The slot, deleted or not: the booking responder tells the two apart."""
        row = await self._connection.fetchrow(
            _locked(f"select {_SLOT_COLUMNS} from {_SLOTS} where id = $1", lock), availability_id
        )
        return _availability_from(row) if row is not None else None

    async def get_many(
        self, availability_ids: Collection[UUID], *, lock: Lock | None = None
    ) -> dict[UUID, Availability]:
        """``get`` for several slots in one statement, locked in id order."""
        rows = await self._connection.fetch(
            _locked(
                f"select {_SLOT_COLUMNS} from {_SLOTS} where id = any($1::uuid[]) order by id",
                lock,
            ),
            list(availability_ids),
        )
        return {row["id"]: _availability_from(row) for row in rows}

    async def live_of_provider(
        self, provider_id: UUID, *, lock: Lock | None = None
    ) -> list[Availability]:
        sql = f"select {_SLOT_COLUMNS} from {_SLOTS} where provider_id = $1 and deleted_at is null"
        if lock is not None:
            # Locks are taken in id order so that two such transactions cannot deadlock.
            rows = await self._connection.fetch(_locked(sql + " order by id", lock), provider_id)
            return sorted(
                (_availability_from(row) for row in rows), key=lambda a: (a.time_range.start, a.id)
            )
        rows = await self._connection.fetch(sql + " order by from_date, id", provider_id)
        return [_availability_from(row) for row in rows]

    async def save(self, availability: Availability, *, previous_version: int) -> None:
        """Write a changed slot; the version guard catches an update that slipped past a lock."""
        await self.save_all([(availability, previous_version)])

    async def save_all(self, changed: Sequence[tuple[Availability, int]]) -> None:
        """``save`` for each (slot, version it was read at), in one statement."""
        if not changed:
            return
        columns = list(zip(*(_availability(slot) for slot, _ in changed), strict=True))
        status = await self._connection.execute(
            f"update {_SLOTS} as s set provider_id = u.provider_id, from_date = u.from_date,"
            " to_date = u.to_date, encounter_type = u.encounter_type,"
            " booking_reference_id = u.booking_reference_id, version = u.version,"
            " deleted_at = u.deleted_at, updated_at = now()"
            " from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],"
            " $5::text[], $6::uuid[], $7::bigint[], $8::timestamptz[], $9::bigint[])"
            " as u(id, provider_id, from_date, to_date, encounter_type, booking_reference_id,"
            " version, deleted_at, previous_version)"
            " where s.id = u.id and s.version = u.previous_version",
            *(list(column) for column in columns),
            [previous_version for _, previous_version in changed],
        )
        if status != f"UPDATE {len(changed)}":
            raise ConcurrentUpdateError(
                f"of availabilities {[slot.id for slot, _ in changed]} at versions"
                f" {[version for _, version in changed]}, only {status.split()[-1]} still were"
            )


class CancelledBookingRepository:
    """The bookings whose cancellation was handled. Read and written under the slot's lock
    (the booking responder's only lock), which serialises a creation and a cancellation."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def record(self, booking_id: UUID, availability_id: UUID) -> None:
        """Idempotent: a repeated cancellation keeps the first record."""
        await self.record_all({booking_id: availability_id})

    async def record_all(self, cancelled: Mapping[UUID, UUID]) -> None:
        """``record`` for each booking id -> availability id, in one statement."""
        if not cancelled:
            return
        await self._connection.execute(
            f"insert into {_CANCELLED} (booking_id, availability_id)"
            " select * from unnest($1::uuid[], $2::uuid[]) on conflict (booking_id) do nothing",
            list(cancelled),
            list(cancelled.values()),
        )

    async def contains(self, booking_id: UUID) -> bool:
        return bool(await self.among([booking_id]))

    async def among(self, booking_ids: Collection[UUID]) -> set[UUID]:
        """Those of these bookings whose cancellation was handled, in one statement."""
        rows = await self._connection.fetch(
            f"select booking_id from {_CANCELLED} where booking_id = any($1::uuid[])",
            list(booking_ids),
        )
        return {row["booking_id"] for row in rows}


def _profile(provider: Provider) -> tuple[str, str, str, str]:
    profile = provider.profile
    return profile.first_name, profile.last_name, profile.speciality, profile.gender


def _provider(row: Record) -> Provider:
    return Provider(
        id=row["id"],
        profile=Profile(
            first_name=row["first_name"],
            last_name=row["last_name"],
            speciality=row["speciality"],
            gender=row["gender"],
        ),
        deleted_at=row["deleted_at"],
    )


def _availability(availability: Availability) -> tuple[Any, ...]:
    """The values in ``_SLOT_COLUMNS`` order."""
    return (
        availability.id,
        availability.provider_id,
        availability.time_range.start,
        availability.time_range.end,
        availability.encounter_type.value,
        availability.booking_reference_id,
        availability.version,
        availability.deleted_at,
    )


def _availability_from(row: Record) -> Availability:
    return Availability(
        id=row["id"],
        provider_id=row["provider_id"],
        time_range=TimeRange(row["from_date"], row["to_date"]),
        encounter_type=EncounterType(row["encounter_type"]),
        booking_reference_id=row["booking_reference_id"],
        version=row["version"],
        deleted_at=row["deleted_at"],
    )
