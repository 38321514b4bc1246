"""Database helpers for tests: a schema of its own per test, with outbox and inbox tables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from devstack.settings import DevstackSettings
from eventing.database import Database
from eventing.inbox import inbox_table
from eventing.migrations import create_outbox_and_inbox
from eventing.outbox import outbox_table


@dataclass
class IsolatedSchema:
    name: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: Table
    inbox: Table
    dsn: str
    database: Database  # the services' way in (asyncpg); ``engine`` for the tests' own checks


@asynccontextmanager
async def isolated_schema(settings: DevstackSettings, prefix: str) -> AsyncIterator[IsolatedSchema]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    # pre_ping: tests that restart PostgreSQL (test_outages.py) leave dead connections in the
    # pool; the schema is still dropped afterwards.
    engine = create_async_engine(settings.sqlalchemy_url, pool_size=5, pool_pre_ping=True)
    async with engine.begin() as connection:
        await connection.execute(text(f'create schema "{name}"'))
        await connection.run_sync(create_outbox_and_inbox, name)
        await connection.execute(
            text(
                f'create table "{name}".effects (event_id text not null, applied integer not null)'
            )
        )
    metadata = MetaData(schema=name)
    database = Database(settings.sqlalchemy_url)
    await database.open()
    try:
        yield IsolatedSchema(
            name=name,
            engine=engine,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            outbox=outbox_table(metadata),
            inbox=inbox_table(metadata),
            dsn=settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1),
            database=database,
        )
    finally:
        await database.close()
        async with engine.begin() as connection:
            await connection.execute(text(f'drop schema "{name}" cascade'))
        await engine.dispose()


async def until_outbox_published(schema: IsolatedSchema, timeout: float = 60.0) -> None:
    """Until the relay marked every outbox row published: then everything it will send is on
    the topic, and ``read_to_end`` sees it all (duplicates included). A database that is
    starting again (a test restarted it) is waited for."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with schema.database.connection() as connection:
                    waiting = await connection.fetchval(
                        f'select count(*) from "{schema.name}".outbox where published_at is null'
                    )
            except OSError:
                waiting = None
            if waiting == 0:
                return
            await asyncio.sleep(0.05)


@asynccontextmanager
async def every_pooled_connection_held(database: Database) -> AsyncIterator[None]:
    """What an open-loop overload does to a service: request handlers hold all of its pooled
    connections (and more wait for one)."""
    pool = database.pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        yield
    finally:
        for connection in held:
            await pool.release(connection)
