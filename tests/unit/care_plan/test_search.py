"""Search query building and the keyset cursor (no database)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from care_plan.persistence.search import (
    Cursor,
    InvalidCursorError,
    SlotQuery,
    build_query,
    positional,
)
from contract.events import EncounterType


def test_cursor_round_trips() -> None:
    cursor = Cursor(datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("garbage", ["", "not-base64!", "Zm9v", "MjAyNi0xMi0wMXx4eXo"])
def test_a_cursor_we_did_not_issue_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidCursorError):
        Cursor.decode(garbage)


def test_no_filters_selects_every_bookable_slot_in_keyset_order_without_a_limit() -> None:
    sql, params = build_query(SlotQuery())
    assert (
        "WHERE deleted_at IS NULL AND held_by IS NULL AND provider_booking_id IS NULL"
        " ORDER BY from_date, id"
    ) in sql
    assert "LIMIT" not in sql
    assert params == {}


def test_filters_are_bound_not_interpolated() -> None:
    provider = uuid.uuid4()
    sql, params = build_query(
        SlotQuery(
            speciality="Dentist'; drop table x; --",
            encounter_type=EncounterType.VIRTUAL,
            provider_id=provider,
            gender="female",
            limit=10,
        )
    )
    assert "drop table" not in sql
    assert params == {
        "speciality": "Dentist'; drop table x; --",
        "encounter_type": "VIRTUAL",
        "provider_id": provider,
        "gender": "female",
        "fetch": 11,
    }


def test_after_starts_the_range_past_the_cursor() -> None:
    cursor = Cursor(datetime(2026, 12, 1, tzinfo=UTC), uuid.uuid4())
    sql, params = build_query(SlotQuery(after=cursor, limit=5))
    assert "(from_date, id) > (:after_from, :after_id)" in sql
    assert (params["after_from"], params["after_id"]) == (cursor.from_date, cursor.id)


def test_a_cursor_whose_time_cannot_be_expressed_in_utc_is_refused() -> None:
    forged = base64.urlsafe_b64encode(f"0001-01-01T00:00:00+01:00|{uuid.uuid4()}".encode()).decode()

    with pytest.raises(InvalidCursorError):
        Cursor.decode(forged)


def test_named_parameters_become_positional_in_order_of_first_use() -> None:
    cursor = Cursor(datetime(2026, 12, 1, tzinfo=UTC), uuid.uuid4())
    sql, values = positional(
        *build_query(SlotQuery(speciality="Dentist", after=cursor, to=cursor.from_date, limit=5))
    )
    assert "::text" in sql  # casts are not parameters
    assert ":" not in sql.replace("::", "")
    assert "lower(speciality) = lower($1)" in sql
    assert "to_date <= $2 AND from_date <= $2" in sql
    assert values == ["Dentist", cursor.from_date, cursor.from_date, cursor.id, 6]
