"""Indexes on the times the retention purge deletes by (inbox, cancelled_bookings).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "provider_schedule"


def upgrade() -> None:
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"], schema=SCHEMA)
    op.create_index(
        "ix_cancelled_bookings_cancelled_at", "cancelled_bookings", ["cancelled_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("ix_cancelled_bookings_cancelled_at", "cancelled_bookings", schema=SCHEMA)
    op.drop_index("ix_inbox_processed_at", "inbox", schema=SCHEMA)
