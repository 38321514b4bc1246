"""An index on the inbox's processed_at, which the retention purge deletes by.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"


def upgrade() -> None:
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_inbox_processed_at", "inbox", schema=SCHEMA)
