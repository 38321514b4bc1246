"""Alembic environment of the Provider Schedule service: its own schema and version table, one
migrator at a time (see ``eventing.migrations.run_service_migrations``). Run through
``python -m provider_schedule.migrate`` (the launcher, a Kubernetes init container), never on
import."""

from __future__ import annotations

from eventing.migrations import run_service_migrations
from provider_schedule.persistence.tables import SCHEMA, metadata

run_service_migrations(schema=SCHEMA, metadata=metadata)
