"""The service's tables, all in its own schema ``provider_schedule``.

The migrations (``migrations/versions``) create them; these definitions are what the queries
use and must stay in step with the latest migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID, ExcludeConstraint

from eventing.inbox import inbox_table
from eventing.outbox import outbox_table

SCHEMA = "provider_schedule"
# Named so that the API can tell an overlap from other integrity errors.
NO_OVERLAP_CONSTRAINT = "availabilities_no_overlap"
RANGE_ORDER_CONSTRAINT = "availabilities_range_ordered"

metadata = MetaData(schema=SCHEMA)

providers = Table(
    "providers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("first_name", Text, nullable=False),
    Column("last_name", Text, nullable=False),
    Column("speciality", Text, nullable=False),
    Column("gender", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True)),
    Index(
        "providers_live_by_name",
        "last_name",
        "first_name",
        "id",
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

availabilities = Table(
    "availabilities",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("provider_id", UUID(as_uuid=True), ForeignKey(providers.c.id), nullable=False),
    Column("from_date", DateTime(timezone=True), nullable=False),
    Column("to_date", DateTime(timezone=True), nullable=False),
    Column("encounter_type", Text, nullable=False),
    Column("booking_reference_id", UUID(as_uuid=True)),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True)),
    CheckConstraint("from_date < to_date", name=RANGE_ORDER_CONSTRAINT),
    CheckConstraint(
        "encounter_type IN ('NOT_SELECTED', 'ONSITE', 'VIRTUAL')",
        name="availabilities_encounter_type_known",
    ),
    # PostgreSQL itself keeps the live slots of one provider apart, so that concurrent
    # requests cannot both pass an application-level check. Deleted slots are kept for the
    # bookings that referenced them and no longer block their time.
    ExcludeConstraint(
        ("provider_id", "="),
        (text("tstzrange(from_date, to_date, '[)')"), "&&"),
        name=NO_OVERLAP_CONSTRAINT,
        using="gist",
        where=text("deleted_at IS NULL"),
    ),
    Index(
        "availabilities_live_by_provider",
        "provider_id",
        "from_date",
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

# Every booking whose cancellation was handled, so that its creation request, arriving late
# (requests are not ordered per booking on the wire), is rejected instead of taking a slot.
cancelled_bookings = Table(
    "cancelled_bookings",
    metadata,
    Column("booking_id", UUID(as_uuid=True), primary_key=True),
    Column("availability_id", UUID(as_uuid=True), nullable=False),
    Column("cancelled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_cancelled_bookings_cancelled_at", "cancelled_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
