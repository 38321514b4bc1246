"""A slot the provider reports as booked elsewhere is not bookable.

``slots.provider_booking_id`` now holds the provider's ``bookingReferenceId`` only when it is
not one of our own bookings (``held_by`` tracks those): existing rows that name one of ours are
cleared, and the four partial search indexes are rebuilt over the new predicate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"
BOOKABLE = "deleted_at IS NULL AND held_by IS NULL AND provider_booking_id IS NULL"
PREVIOUS = "deleted_at IS NULL AND held_by IS NULL"

# name -> columns, each ending in the keyset (from_date, id)
INDEXES: dict[str, list[str | sa.TextClause]] = {
    "slots_bookable_by_time": ["from_date", "id"],
    "slots_bookable_by_speciality": [sa.text("lower(speciality)"), "from_date", "id"],
    "slots_bookable_by_speciality_kind": [
        sa.text("lower(speciality)"),
        "encounter_type",
        sa.text("lower(gender)"),
        "from_date",
        "id",
    ],
    "slots_bookable_by_provider": ["provider_id", "from_date", "id"],
}


def _rebuild_indexes(predicate: str) -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="slots", schema=SCHEMA)
        op.create_index(name, "slots", columns, postgresql_where=sa.text(predicate), schema=SCHEMA)


def upgrade() -> None:
    op.execute(
        f"UPDATE {SCHEMA}.slots SET provider_booking_id = NULL, updated_at = now()"
        f" WHERE provider_booking_id IN (SELECT id FROM {SCHEMA}.bookings)"
    )
    _rebuild_indexes(BOOKABLE)


def downgrade() -> None:
    # The cleared references to our own bookings are not restored: nothing read them before.
    _rebuild_indexes(PREVIOUS)
