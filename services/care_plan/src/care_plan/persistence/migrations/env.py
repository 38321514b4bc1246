"""Alembic environment of the Care Plan service: its own schema and version table, one
migrator at a time (see ``eventing.migrations.run_service_migrations``). Run through
``python -m care_plan.migrate`` (the launcher, a Kubernetes init container), never on import."""

from __future__ import annotations

from care_plan.persistence.tables import SCHEMA, metadata
from eventing.migrations import run_service_migrations

run_service_migrations(schema=SCHEMA, metadata=metadata)
