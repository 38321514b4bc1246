"""Table cancelled_bookings: a cancellation that overtakes its creation request is remembered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "provider_schedule"


def upgrade() -> None:
    # Booking requests are not ordered per booking on the wire (the Java Care Plan keys them
    # by event type): the booking responder rejects a creation request for a booking id here.
    op.create_table(
        "cancelled_bookings",
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("availability_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "cancelled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("cancelled_bookings", schema=SCHEMA)
