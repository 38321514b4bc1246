"""The patient as they were when the booking was requested, carried by every booking event.

Nullable: bookings made before this revision have none and fall back to the current patient.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"


def upgrade() -> None:
    op.add_column("bookings", sa.Column("patient_snapshot", JSONB), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("bookings", "patient_snapshot", schema=SCHEMA)
