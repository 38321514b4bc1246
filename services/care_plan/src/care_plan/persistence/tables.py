"""Tables of the ``care_plan`` schema (declarations only: no engine is built here).

The migrations create them; these declarations are what queries are written against.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from care_plan.domain.model import LIVE_STATUSES
from eventing.audit import audit_table
from eventing.inbox import inbox_table
from eventing.outbox import outbox_table

SCHEMA = "care_plan"
LIVE_STATUS_VALUES = sorted(status.value for status in LIVE_STATUSES)
LIVE = "(" + ", ".join(f"'{status}'" for status in LIVE_STATUS_VALUES) + ")"
# The unique indexes whose violations the repository turns into answers (see repository.py).
IDEMPOTENCY_KEY_INDEX = "bookings_idempotency_key"
LIVE_PER_SLOT_INDEX = "bookings_one_live_per_slot"
# A slot is offered when the provider has not deleted it, no live booking of ours holds it and
# the provider reports no holder of its own (a booking made elsewhere: provider_booking_id).
BOOKABLE = "deleted_at IS NULL AND held_by IS NULL AND provider_booking_id IS NULL"

metadata = MetaData(schema=SCHEMA)

patients = Table(
    "patients",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("first_name", Text, nullable=False),
    Column("last_name", Text, nullable=False),
    Column("gender", Text, nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("insurance_payer", Text),
    Column("insurance_member_id", Text),
    Column("insurance_plan", Text),
    Column("insurance_valid_until", Date),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The availability read model: provider fields denormalised so that search reads one table.
slots = Table(
    "slots",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("provider_id", UUID(as_uuid=True), nullable=False),
    Column("first_name", Text, nullable=False),
    Column("last_name", Text, nullable=False),
    Column("speciality", Text, nullable=False),
    Column("gender", Text, nullable=False),
    Column("from_date", DateTime(timezone=True), nullable=False),
    Column("to_date", DateTime(timezone=True), nullable=False),
    Column("encounter_type", Text, nullable=False),
    # The provider side's holder of the slot (bookingReferenceId) when it is a booking made
    # elsewhere (another Care Plan deployment); NULL when free or when the holder is one of our
    # own bookings, whose hold ``held_by`` tracks (it knows when our booking ends).
    Column("provider_booking_id", UUID(as_uuid=True)),
    # Freshness of the state held here: the provider's version, else the event's time.
    Column("version", BigInteger),
    Column("event_time", DateTime(timezone=True)),
    Column("event_id", Text, nullable=False),
    # Soft delete: a deleted slot stays as a tombstone so that an older event cannot revive it.
    Column("deleted_at", DateTime(timezone=True)),
    # Our live booking of the slot, kept in step with bookings.status by every transition.
    Column("held_by", UUID(as_uuid=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("slots_bookable_by_time", "from_date", "id", postgresql_where=text(BOOKABLE)),
    Index(
        "slots_bookable_by_speciality",
        func.lower(text("speciality")),
        "from_date",
        "id",
        postgresql_where=text(BOOKABLE),
    ),
    Index(
        "slots_bookable_by_speciality_kind",
        func.lower(text("speciality")),
        "encounter_type",
        func.lower(text("gender")),
        "from_date",
        "id",
        postgresql_where=text(BOOKABLE),
    ),
    Index(
        "slots_bookable_by_provider",
        "provider_id",
        "from_date",
        "id",
        postgresql_where=text(BOOKABLE),
    ),
)

bookings = Table(
    "bookings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("patient_id", UUID(as_uuid=True), ForeignKey(patients.c.id), nullable=False),
    # No foreign key to slots: the read model can be cleared and rebuilt under the bookings.
    Column("provider_availability_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("payment_mode", Text, nullable=False),
    Column("reason", Text),
    Column("idempotency_key", Text),
    Column("request_fingerprint", Text),
    Column("slot_from_date", DateTime(timezone=True), nullable=False),
    Column("slot_to_date", DateTime(timezone=True), nullable=False),
    Column("slot_provider_id", UUID(as_uuid=True), nullable=False),
    Column("slot_speciality", Text, nullable=False),
    Column("encounter_type", Text, nullable=False),
    # The patient (insurance included) as at the request: every event of the booking carries
    # it. NULL for bookings made before it was stored: those use the current patient.
    Column("patient_snapshot", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("bookings_by_patient", "patient_id", "created_at"),
    Index(
        IDEMPOTENCY_KEY_INDEX,
        "patient_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # The last line of defence against a double booking inside this service.
    Index(
        LIVE_PER_SLOT_INDEX,
        "provider_availability_id",
        unique=True,
        postgresql_where=text(f"status IN {LIVE}"),
    ),
    Index(
        "bookings_waiting_by_deadline",
        "expires_at",
        postgresql_where=text("status = 'WAITING_FOR_CONFIRMATION'"),
    ),
)

outbox = outbox_table(metadata)
audit = audit_table(metadata)
inbox = inbox_table(metadata)
