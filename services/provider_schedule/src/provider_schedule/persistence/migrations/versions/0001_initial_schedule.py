"""Schema provider_schedule: providers, availabilities (no overlaps per provider), outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from eventing.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "provider_schedule"


def upgrade() -> None:
    # Looked up, not `create schema if not exists`, which checks the right to create schemas
    # first: on EKS the schema exists (eventing.database_roles) and its owner runs this.
    op.execute(
        "do $$ begin if not exists (select from pg_namespace where nspname = "
        f"'{SCHEMA}') then create schema \"{SCHEMA}\"; end if; end $$"
    )
    # btree_gist gives uuid an equality operator inside a GiST index, which the exclusion
    # constraint below needs; it is database-wide, so it may already exist (on EKS the roles
    # Job creates it: the owner that runs this may not).
    op.execute("create extension if not exists btree_gist")

    op.create_table(
        "providers",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("speciality", sa.Text, nullable=False),
        sa.Column("gender", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index(
        "providers_live_by_name",
        "providers",
        ["last_name", "first_name", "id"],
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "availabilities",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "provider_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.providers.id"),
            nullable=False,
        ),
        sa.Column("from_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("encounter_type", sa.Text, nullable=False),
        sa.Column("booking_reference_id", postgresql.UUID(as_uuid=True)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("from_date < to_date", name="availabilities_range_ordered"),
        sa.CheckConstraint(
            "encounter_type IN ('NOT_SELECTED', 'ONSITE', 'VIRTUAL')",
            name="availabilities_encounter_type_known",
        ),
        schema=SCHEMA,
    )
    # Two live slots of one provider never overlap, enforced by PostgreSQL so that concurrent
    # requests cannot slip past a check made in the application. Half-open ranges: a slot may
    # start when the previous one ends. Deleted slots no longer block their time.
    op.execute(
        f'alter table "{SCHEMA}".availabilities add constraint availabilities_no_overlap '
        "exclude using gist (provider_id with =, tstzrange(from_date, to_date, '[)') with &&) "
        "where (deleted_at is null)"
    )
    op.create_index(
        "availabilities_live_by_provider",
        "availabilities",
        ["provider_id", "from_date"],
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    create_outbox_and_inbox(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_outbox_and_inbox(op.get_bind(), SCHEMA)
    op.drop_table("availabilities", schema=SCHEMA)
    op.drop_table("providers", schema=SCHEMA)
    # The schema stays: Alembic's version table lives in it. btree_gist stays too: it is
    # database-wide and other schemas may use it.
