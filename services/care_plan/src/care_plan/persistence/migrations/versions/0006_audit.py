"""The append-only audit trail of patient data (eventing.audit).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from eventing.audit import create_audit_table, drop_audit_table

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"


def upgrade() -> None:
    create_audit_table(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_audit_table(op.get_bind(), SCHEMA)
