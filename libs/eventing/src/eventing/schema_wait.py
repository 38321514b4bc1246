"""``python -m eventing.schema_wait <package>``: wait until the service's schema is at the head
revision of its migrations, then exit 0 (exit 1 after ``--timeout`` seconds).

The init container of a service whose migrations a Kubernetes Job runs as the schema's owner:
the service's own login may read the version table but not migrate, so it waits instead of
starting on a schema the Job has not brought up yet. ``<package>`` names the service's Python
package, whose ``migrate.MIGRATIONS`` and ``persistence.tables.SCHEMA`` say what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import time
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from eventing.logging import configure_logging
from eventing.migrations import alembic_config
from eventing.settings import DatabaseSettings

logger = logging.getLogger(__name__)


def is_current(migrations: Path, schema: str, database_url: str) -> bool:
    """Whether the database's revisions are exactly the migrations' heads."""
    expected = set(
        ScriptDirectory.from_config(alembic_config(migrations, database_url)).get_heads()
    )

    def current(connection: Connection) -> set[str]:
        context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
        return set(context.get_current_heads())

    async def read() -> set[str]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool, hide_parameters=True)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(current)
        finally:
            await engine.dispose()

    return asyncio.run(read()) == expected


def wait_until_current(
    migrations: Path, schema: str, database_url: str, *, timeout: float, interval: float = 2.0
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if is_current(migrations, schema, database_url):
                return True
        except Exception as error:  # the database or the schema not there yet
            logger.info("schema not readable yet", extra={"error": type(error).__name__})
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", help="the service's package, e.g. provider_schedule")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    configure_logging("INFO", service=f"{args.package}-schema-wait")
    migrations = Path(importlib.import_module(f"{args.package}.migrate").MIGRATIONS)
    schema = str(importlib.import_module(f"{args.package}.persistence.tables").SCHEMA)
    url = DatabaseSettings().database_url
    if wait_until_current(migrations, schema, url, timeout=args.timeout):
        logger.info("schema is current", extra={"schema": schema})
        return 0
    logger.error("schema still not current: has the migration Job run?", extra={"schema": schema})
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
