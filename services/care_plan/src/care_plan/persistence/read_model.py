"""Writes of the availability read model (``care_plan.slots``), as the projector needs them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from care_plan.domain.rules import Stamp
from care_plan.persistence.tables import LIVE, SCHEMA
from eventing.database import Connection

_SLOTS = f"{SCHEMA}.slots"
_BOOKINGS = f"{SCHEMA}.bookings"
_STATE_COLUMNS = (
    "provider_id", "first_name", "last_name", "speciality", "gender", "from_date", "to_date",
    "encounter_type", "provider_booking_id", "version", "event_time", "event_id", "deleted_at",
)  # fmt: skip
_STATE_TYPES = (
    "uuid", "text", "text", "text", "text", "timestamptz", "timestamptz",
    "text", "uuid", "bigint", "timestamptz", "text", "timestamptz",
)  # fmt: skip


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

    def values(self) -> tuple[Any, ...]:
        """The values in ``_STATE_COLUMNS`` order."""
        return (
            self.provider_id,
            self.first_name,
            self.last_name,
            self.speciality,
            self.gender,
            self.from_date,
            self.to_date,
            self.encounter_type,
            self.provider_booking_id,
            self.stamp.version,
            self.stamp.time,
            self.event_id,
            self.deleted_at,
        )


_COLUMNS = ", ".join(_STATE_COLUMNS)
_UNNESTED_COLUMNS = ", ".join(f"u.{name}" for name in _STATE_COLUMNS)


def _unnest_states() -> str:
    """The states of ``_state_arrays`` as a table ``u`` (id, then ``_STATE_COLUMNS``)."""
    arrays = ", ".join(f"${n + 2}::{kind}[]" for n, kind in enumerate(_STATE_TYPES))
    return f"unnest($1::uuid[], {arrays}) as u(id, {_COLUMNS})"


def _state_arrays(states: Sequence[SlotState]) -> list[list[Any]]:
    """The states column by column: the ids, then one array per ``_STATE_COLUMNS`` entry."""
    columns = zip(*(state.values() for state in states), strict=True)
    return [[state.id for state in states], *(list(column) for column in columns)]


# The SQL form of ``domain.rules.supersedes``: nothing overwrites a deleted slot, a deletion
# always applies, then versions decide when both sides have one, else event times, else the
# incoming state wins.
_NEWER = (
    "s.deleted_at is null and (excluded.deleted_at is not null or case"
    " when excluded.version is not null and s.version is not null"
    " then excluded.version > s.version"
    " when excluded.event_time is not null and s.event_time is not null"
    " then excluded.event_time > s.event_time else true end)"
)


class ReadModel:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def lock_versions(self, availability_ids: Collection[UUID]) -> dict[UUID, SlotVersion]:
        """The stored version of each of these slots that exists, row-locked (in id order)
        until the transaction ends; one statement."""
        rows = await self._connection.fetch(
            f"select id, version, event_time, deleted_at from {_SLOTS}"
            " where id = any($1::uuid[]) order by id for update",
            list(availability_ids),
        )
        return {
            row["id"]: SlotVersion(
                Stamp(row["version"], row["event_time"]), deleted=row["deleted_at"] is not None
            )
            for row in rows
        }

    async def stored_forms(self, states: Sequence[SlotState]) -> list[SlotState]:
        """The states as the read model keeps them: the provider's holder only if foreign.

        A ``bookingReferenceId`` naming one of our own bookings is dropped: ``held_by`` tracks
        that hold and knows when it ends (our cancellation request then travels on the slot's
        key ahead of any later request of ours). Any other holder (a booking made through
        another deployment) keeps the slot out of search until the provider reports it free.
        Our booking is committed before the provider can ever name it, so the lookup sees it.
        """
        named = {s.provider_booking_id for s in states if s.provider_booking_id is not None}
        if not named:
            return list(states)
        rows = await self._connection.fetch(
            f"select id from {_BOOKINGS} where id = any($1::uuid[])", list(named)
        )
        ours = {row["id"] for row in rows}
        return [
            replace(s, provider_booking_id=None) if s.provider_booking_id in ours else s
            for s in states
        ]

    async def insert_new(self, states: Sequence[SlotState]) -> set[UUID]:
        """Add slots not seen before, in one statement; the ids added (a slot a concurrent
        writer added first is not).

        ``held_by`` is taken from the bookings: after a rebuild the read model learns again
        which slots our live bookings hold.
        """
        if not states:
            return set()
        rows = await self._connection.fetch(
            f"insert into {_SLOTS} (id, held_by, {_COLUMNS})"
            f" select u.id, (select b.id from {_BOOKINGS} b where b.provider_availability_id"
            f" = u.id and b.status in {LIVE} limit 1), {_UNNESTED_COLUMNS}"
            f" from {_unnest_states()} on conflict (id) do nothing returning id",
            *_state_arrays(states),
        )
        return {row["id"] for row in rows}

    async def overwrite(self, states: Sequence[SlotState]) -> None:
        """Write these slots' states over the stored ones, in one statement."""
        if not states:
            return
        await self._connection.execute(
            f"update {_SLOTS} as s set"
            f" {', '.join(f'{name} = u.{name}' for name in _STATE_COLUMNS)}, updated_at = now()"
            f" from {_unnest_states()} where s.id = u.id",
            *_state_arrays(states),
        )

    async def lock_for_rebuild(self) -> None:
        """Keep every other writer of the read model out until this transaction ends.

        Waits for the projector's and the saga's transactions in flight; later ones queue on
        their slot lock until the rebuild commits. Searches (plain reads) go on meanwhile.
        """
        await self._connection.execute(f"lock table {_SLOTS} in exclusive mode")

    async def upsert_newer(self, states: list[SlotState]) -> int:
        """Write each state unless the row holds one as new or newer; the rows written."""
        if not states:
            return 0
        rows = await self._connection.fetch(
            f"insert into {_SLOTS} as s (id, {_COLUMNS})"
            f" select * from {_unnest_states()}"
            f" on conflict (id) do update set"
            f" {', '.join(f'{name} = excluded.{name}' for name in _STATE_COLUMNS)},"
            f" updated_at = now() where {_NEWER} returning s.id",
            *_state_arrays(states),
        )
        return len(rows)

    async def delete_unknown(self, known: Iterable[UUID], *, untouched_since: datetime) -> int:
        """Delete the rows of availabilities not in ``known`` that nobody wrote since then.

        A row written after ``untouched_since`` (the projector's, from an event the rebuild read
        too late to see) stays: its event is in the inbox and would never be applied again.
        """
        status = await self._connection.execute(
            f"delete from {_SLOTS} where updated_at < $1 and not (id = any($2::uuid[]))",
            untouched_since,
            list(known),
        )
        return _count(status)

    async def forget_own_holds(self) -> int:
        """``stored_form`` for every row at once: drop holders that are our own bookings."""
        status = await self._connection.execute(
            f"update {_SLOTS} set provider_booking_id = null, updated_at = now()"
            f" where provider_booking_id in (select id from {_BOOKINGS})"
        )
        return _count(status)

    async def hold_for_live_bookings(self) -> None:
        """``held_by`` as the bookings say: our live booking of the slot, else nothing."""
        await self._connection.execute(
            f"update {_SLOTS} s set held_by = b.id, updated_at = now() from {_BOOKINGS} b"
            f" where b.provider_availability_id = s.id and b.status in {LIVE}"
            " and s.held_by is distinct from b.id"
        )
        await self._connection.execute(
            f"update {_SLOTS} s set held_by = null, updated_at = now()"
            f" where s.held_by is not null and not exists (select 1 from {_BOOKINGS} b"
            f" where b.id = s.held_by and b.provider_availability_id = s.id"
            f" and b.status in {LIVE})"
        )

    async def deleted_with_live_bookings(self) -> set[UUID]:
        """Deleted slots that live bookings still hold (the provider's deletion was missed)."""
        rows = await self._connection.fetch(
            f"select distinct b.provider_availability_id from {_BOOKINGS} b"
            f" join {_SLOTS} s on s.id = b.provider_availability_id"
            f" where b.status in {LIVE} and s.deleted_at is not null"
        )
        return {row[0] for row in rows}

    async def now(self) -> datetime:
        """The database's clock (the one ``updated_at`` is written with)."""
        value: datetime = await self._connection.fetchval("select now()")
        return value


def _count(status: str) -> int:
    """The row count of a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])
