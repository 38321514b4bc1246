"""Alembic environment of the Care Plan service: its own schema and its own version table.

Run through ``python -m care_plan.migrate`` (the launcher, a Kubernetes init container), never
on import. Concurrent runs (two pods rolling out) queue on an advisory lock.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from care_plan.persistence.tables import SCHEMA, metadata

MIGRATION_LOCK = "care_plan.migrations"


def _run(connection: Connection) -> None:
    connection.execute(
        text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": MIGRATION_LOCK}
    )
    connection.execute(text(f'create schema if not exists "{SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == SCHEMA,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by care_plan.migrate"
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run care_plan.migrate")
asyncio.run(_run_online())
