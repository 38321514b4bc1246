"""Alembic environment: the service's own schema, its own version table, one migrator at a time.

Run through ``provider_schedule.migrate``, which passes the database URL in
``config.attributes["database_url"]``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from provider_schedule.persistence.tables import SCHEMA, metadata

VERSION_TABLE = "alembic_version"
# Replicas (or a Kubernetes Job and `careplan up`) may migrate at the same time: the first
# holds this lock, the others wait and then find nothing to do.
MIGRATION_LOCK = f"{SCHEMA}.migrations"


def _run(connection: Connection) -> None:
    connection.execute(
        text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": MIGRATION_LOCK}
    )
    # The version table lives in the schema, so the schema must exist before Alembic reads
    # it (the first migration creates it as well, for a reader of the history).
    connection.execute(text(f'create schema if not exists "{SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == SCHEMA,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    asyncio.run(_run_online(url))


main()
