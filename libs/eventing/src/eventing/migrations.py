"""What every service's Alembic migrations share: the outbox and inbox tables (defined once, in
``outbox.py`` and ``inbox.py``, created in the service's schema) and the ``env.py`` body."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from eventing.inbox import inbox_table
from eventing.outbox import outbox_table

logger = logging.getLogger(__name__)


def create_outbox_and_inbox(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema)
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(connection)


def outbox_payload_type(connection: Connection, schema: str, kind: str) -> None:
    """``json`` keeps the payload's text as the service wrote it, which the relay then sends
    as it is; ``jsonb`` (the first form) made it parse and re-encode every event."""
    connection.execute(
        text(
            f'alter table "{schema}".outbox alter column payload type {kind} using payload::{kind}'
        )
    )


def drop_outbox_and_inbox(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema)
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.drop_all(connection)


def run_service_migrations(*, schema: str, metadata: MetaData) -> None:
    """The body of a service's Alembic ``env.py``: its own schema, its own version table, one
    migrator at a time.

    Replicas (or a Kubernetes Job and `careplan up`) may migrate at the same time: the first
    holds a transaction-level advisory lock, the others wait and then find nothing to do. The
    database URL comes from ``config.attributes["database_url"]`` or ``sqlalchemy.url``.
    """
    from alembic import context

    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")

    def migrate(connection: Connection) -> None:
        connection.execute(
            text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": f"{schema}.migrations"}
        )
        # The version table lives in the schema: it must exist before Alembic reads it. Looked
        # up first: on EKS the schema exists (made by eventing.database_roles) and the owner
        # running the migrations may not create schemas, which `create schema if not exists`
        # checks before it looks.
        exists = connection.execute(
            text("select 1 from pg_namespace where nspname = :schema"), {"schema": schema}
        ).scalar()
        if not exists:
            connection.execute(text(f'create schema "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        # hide_parameters: a failed statement's text must not carry the row's values into a log.
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def alembic_config(migrations: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    # An attribute, not an ini option: ini interpolation would choke on a "%" in a password.
    config.attributes["database_url"] = database_url
    return config


def upgrade(
    migrations: Path, database_url: str, revision: str = "head", *, attempts: int = 30
) -> None:
    """Bring the schema to ``revision``; waits a little for a database that is still starting."""
    for attempt in range(1, attempts + 1):
        try:
            command.upgrade(alembic_config(migrations, database_url), revision)
            return
        except OSError as error:  # connection refused while the database starts
            if attempt == attempts:
                raise
            logger.warning("database not reachable, retrying", extra={"error": str(error)})
            time.sleep(1)


def downgrade(migrations: Path, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(migrations, database_url), revision)
