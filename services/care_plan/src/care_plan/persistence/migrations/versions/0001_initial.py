"""Patients, the availability read model, bookings, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from eventing.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "care_plan"
BOOKABLE = "deleted_at IS NULL AND held_by IS NULL"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("gender", sa.Text, nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("insurance_payer", sa.Text),
        sa.Column("insurance_member_id", sa.Text),
        sa.Column("insurance_plan", sa.Text),
        sa.Column("insurance_valid_until", sa.Date),
        *_timestamps(),
        sa.CheckConstraint(
            "num_nulls(insurance_payer, insurance_member_id, insurance_plan,"
            " insurance_valid_until) in (0, 4)",
            name="patients_insurance_complete",
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "slots",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("provider_id", UUID(as_uuid=True), nullable=False),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("speciality", sa.Text, nullable=False),
        sa.Column("gender", sa.Text, nullable=False),
        sa.Column("from_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("encounter_type", sa.Text, nullable=False),
        sa.Column("provider_booking_id", UUID(as_uuid=True)),
        sa.Column("version", sa.BigInteger),
        sa.Column("event_time", sa.DateTime(timezone=True)),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("held_by", UUID(as_uuid=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    # Partial indexes over the bookable slots only, each ending in the keyset (from_date, id):
    # a page is one index range scan whatever the depth.
    bookable = sa.text(BOOKABLE)
    op.create_index(
        "slots_bookable_by_time",
        "slots",
        ["from_date", "id"],
        postgresql_where=bookable,
        schema=SCHEMA,
    )
    op.create_index(
        "slots_bookable_by_speciality",
        "slots",
        [sa.text("lower(speciality)"), "from_date", "id"],
        postgresql_where=bookable,
        schema=SCHEMA,
    )
    # The usual patient search: "an onsite female dentist" (equalities, then keyset order).
    op.create_index(
        "slots_bookable_by_speciality_kind",
        "slots",
        [
            sa.text("lower(speciality)"),
            "encounter_type",
            sa.text("lower(gender)"),
            "from_date",
            "id",
        ],
        postgresql_where=bookable,
        schema=SCHEMA,
    )
    op.create_index(
        "slots_bookable_by_provider",
        "slots",
        ["provider_id", "from_date", "id"],
        postgresql_where=bookable,
        schema=SCHEMA,
    )

    op.create_table(
        "bookings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "patient_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.patients.id"), nullable=False
        ),
        sa.Column("provider_availability_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("payment_mode", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_fingerprint", sa.Text),
        sa.Column("slot_from_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_to_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_provider_id", UUID(as_uuid=True), nullable=False),
        sa.Column("slot_speciality", sa.Text, nullable=False),
        sa.Column("encounter_type", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status in ('WAITING_FOR_CONFIRMATION', 'CONFIRMED', 'REJECTED',"
            " 'CANCELLED_BY_PROVIDER', 'CANCELLED_BY_PATIENT', 'EXPIRED')",
            name="bookings_status_known",
        ),
        sa.CheckConstraint(
            "payment_mode in ('SELF_PAY', 'INSURANCE_PAY')", name="bookings_payment_mode_known"
        ),
        schema=SCHEMA,
    )
    op.create_index("bookings_by_patient", "bookings", ["patient_id", "created_at"], schema=SCHEMA)
    op.create_index(
        "bookings_idempotency_key",
        "bookings",
        ["patient_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        schema=SCHEMA,
    )
    op.create_index(
        "bookings_one_live_per_slot",
        "bookings",
        ["provider_availability_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('WAITING_FOR_CONFIRMATION', 'CONFIRMED')"),
        schema=SCHEMA,
    )
    op.create_index(
        "bookings_waiting_by_deadline",
        "bookings",
        ["expires_at"],
        postgresql_where=sa.text("status = 'WAITING_FOR_CONFIRMATION'"),
        schema=SCHEMA,
    )

    create_outbox_and_inbox(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_outbox_and_inbox(op.get_bind(), SCHEMA)
    op.drop_table("bookings", schema=SCHEMA)
    op.drop_table("slots", schema=SCHEMA)
    op.drop_table("patients", schema=SCHEMA)
