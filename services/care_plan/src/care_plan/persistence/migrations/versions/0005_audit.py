"""The append-only audit trail of patient data (eventing.audit).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from eventing.audit import create_audit_table, drop_audit_table

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"


def upgrade() -> None:
    create_audit_table(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_table(op.get_bind(), SCHEMA)
