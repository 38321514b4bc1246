"""The Alembic history on a database of its own: what the migrations build, two migrators
at once, and a downgrade followed by an upgrade."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from devstack.settings import DevstackSettings
from provider_schedule import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch_database(infrastructure: DevstackSettings) -> AsyncIterator[str]:
    """A new, empty database; its SQLAlchemy URL."""
    name = f"ps_migrations_{uuid.uuid4().hex[:8]}"
    server = infrastructure.sqlalchemy_url.rsplit("/", 1)[0]
    admin_dsn = f"{server}/postgres".replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'create database "{name}"')
        yield f"{server}/{name}"
        await admin.execute(f'drop database "{name}" with (force)')
    finally:
        await admin.close()


def _migrate_in_a_process(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "provider_schedule.migrate"],
                            env={**os.environ, "DATABASE_URL": url},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))


async def test_two_migrators_at_once_build_the_schema_once(scratch_database: str) -> None:
    first, second = _migrate_in_a_process(scratch_database), _migrate_in_a_process(scratch_database)
    for process in (first, second):
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
        assert process.returncode == 0, output.decode()

    connection = await _connect(scratch_database)
    try:
        assert await connection.fetchval(
            "select version_num from provider_schedule.alembic_version") == "0004"  # fmt: skip
        tables = {row["tablename"] for row in await connection.fetch(
            "select tablename from pg_tables where schemaname = 'provider_schedule'")}  # fmt: skip
        assert tables == {"alembic_version", "providers", "availabilities", "cancelled_bookings",
                          "outbox", "inbox"}  # fmt: skip
        assert await connection.fetchval(
            "select count(*) from pg_extension where extname = 'btree_gist'") == 1  # fmt: skip
        definition = await connection.fetchval(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conname = 'availabilities_no_overlap' and contype = 'x'")  # fmt: skip
        assert definition == ("EXCLUDE USING gist (provider_id WITH =, "
                              "tstzrange(from_date, to_date, '[)'::text) WITH &&) "
                              "WHERE ((deleted_at IS NULL))")  # fmt: skip
    finally:
        await connection.close()


async def test_database_itself_refuses_overlaps_of_live_slots(scratch_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, scratch_database)
    connection = await _connect(scratch_database)
    provider, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    nine, ten = datetime(2031, 1, 1, 9, tzinfo=UTC), datetime(2031, 1, 1, 10, tzinfo=UTC)
    insert_slot = ("insert into provider_schedule.availabilities (id, provider_id, from_date, "
                   "to_date, encounter_type, version) values ($1, $2, $3, $4, 'ONSITE', 1)")  # fmt: skip
    try:
        await connection.execute(
            "insert into provider_schedule.providers (id, first_name, last_name, speciality, "
            "gender) values ($1, 'John', 'Doe', 'Dentist', 'MALE')", provider)  # fmt: skip
        await connection.execute(insert_slot, first, provider, nine, ten)
        with pytest.raises(asyncpg.ExclusionViolationError):
            await connection.execute(insert_slot, second, provider, nine.replace(minute=30),
                                     ten.replace(minute=30))  # fmt: skip
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(insert_slot, second, provider, ten, nine)
        await connection.execute(
            "update provider_schedule.availabilities set deleted_at = now() where id = $1", first
        )
        await connection.execute(insert_slot, second, provider, nine, ten)
    finally:
        await connection.close()


async def test_downgrade_to_base_and_upgrade_again(scratch_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, scratch_database)
    await asyncio.to_thread(migrate.downgrade, scratch_database, "base")
    connection = await _connect(scratch_database)
    try:
        tables = {row["tablename"] for row in await connection.fetch(
            "select tablename from pg_tables where schemaname = 'provider_schedule'")}  # fmt: skip
        assert tables == {"alembic_version"}
        await asyncio.to_thread(migrate.upgrade, scratch_database)
        assert await connection.fetchval(
            "select version_num from provider_schedule.alembic_version") == "0004"  # fmt: skip
    finally:
        await connection.close()
