"""The outbox payload as json: the relay sends the text the service wrote, unparsed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from eventing.migrations import outbox_payload_type

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "provider_schedule"


def upgrade() -> None:
    outbox_payload_type(op.get_bind(), SCHEMA, "json")


def downgrade() -> None:
    outbox_payload_type(op.get_bind(), SCHEMA, "jsonb")
