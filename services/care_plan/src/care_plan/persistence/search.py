"""Search of bookable slots with keyset paging, answered straight from the partial indexes.

Every query is ``ORDER BY from_date, id`` over bookable rows only, and each index the planner
can pick ends in ``(from_date, id)``: a page is an index range scan that starts at the cursor,
so page 1,000 costs what page 1 costs. The JSON of each row is built by PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from care_plan.persistence.tables import BOOKABLE, SCHEMA
from contract.events import EncounterType
from eventing.database import Connection


class InvalidCursorError(ValueError):
    """An ``after`` value this service did not issue (a 422)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last slot of a page: the next page starts after it."""

    from_date: datetime
    id: UUID

    def encode(self) -> str:
        raw = f"{self.from_date.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            when, _, ident = raw.partition("|")
            from_date = datetime.fromisoformat(when)
            if from_date.tzinfo is None:
                raise InvalidCursorError("cursor without a time zone")
            # A time that cannot be expressed in UTC would only fail in the database driver.
            return cls(from_date=from_date.astimezone(UTC), id=UUID(ident))
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
            raise InvalidCursorError("not a cursor this service issued") from error


@dataclass(frozen=True, slots=True)
class SlotQuery:
    speciality: str | None = None
    encounter_type: EncounterType | None = None
    provider_id: UUID | None = None
    gender: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    limit: int | None = None
    after: Cursor | None = None


@dataclass(frozen=True, slots=True)
class Page:
    json: str  # a JSON array of slots
    next: Cursor | None


_ITEM = (
    "json_build_object('id', id, 'providerId', provider_id, 'firstName', first_name,"
    " 'lastName', last_name, 'speciality', speciality, 'gender', gender,"
    " 'fromDate', from_date, 'toDate', to_date, 'encounterType', encounter_type)::text"
)


def build_query(query: SlotQuery) -> tuple[str, dict[str, Any]]:
    """The SQL and its parameters. Only fixed fragments are joined; values are bound."""
    where = [BOOKABLE]
    params: dict[str, Any] = {}
    if query.speciality is not None:
        where.append("lower(speciality) = lower(:speciality)")
        params["speciality"] = query.speciality
    if query.encounter_type is not None:
        where.append("encounter_type = :encounter_type")
        params["encounter_type"] = query.encounter_type.value
    if query.provider_id is not None:
        where.append("provider_id = :provider_id")
        params["provider_id"] = query.provider_id
    if query.gender is not None:
        where.append("lower(gender) = lower(:gender)")
        params["gender"] = query.gender
    if query.from_ is not None:
        where.append("from_date >= :from_date")
        params["from_date"] = query.from_
    if query.to is not None:
        # The slot lies within [from, to]; from_date <= to is implied, and said so that the
        # index range scan stops there.
        where.append("to_date <= :to_date AND from_date <= :to_date")
        params["to_date"] = query.to
    if query.after is not None:
        where.append("(from_date, id) > (:after_from, :after_id)")
        params["after_from"] = query.after.from_date
        params["after_id"] = query.after.id
    sql = (
        f"SELECT from_date, id, {_ITEM} AS item FROM {SCHEMA}.slots"
        f" WHERE {' AND '.join(where)} ORDER BY from_date, id"
    )
    if query.limit is not None:
        sql += " LIMIT :fetch"
        params["fetch"] = query.limit + 1  # one more says whether there is a next page
    return sql, params


_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)")


def positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` parameters as asyncpg's ``$n``, and their values in that order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _NAMED.sub(number, sql), [params[name] for name in order]


async def search(connection: Connection, query: SlotQuery) -> Page:
    sql, values = positional(*build_query(query))
    rows = await connection.fetch(sql, *values)
    next_cursor = None
    if query.limit is not None and len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = Cursor(from_date=last["from_date"], id=last["id"])
    return Page(json="[" + ",".join(row["item"] for row in rows) + "]", next=next_cursor)
