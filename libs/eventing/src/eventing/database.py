"""The services' database access: an asyncpg pool, transactions, and what counts as an outage.

The request and consumer paths talk to PostgreSQL through asyncpg directly. Measured on the
2-core machine (``bench/booking.py``'s profile, see the README): one statement through an
SQLAlchemy ``AsyncSession`` cost ~470 us of CPU against ~37 us through asyncpg, and a
transaction's begin/commit ~0.6 ms more; the booking path runs about twenty statements.
SQLAlchemy stays where it earns its keep: table declarations, Alembic migrations and the
offline read-model rebuild.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from eventing.settings import libpq_dsn
from eventing.statement_spans import QuietConnection, statements_follow_span

# What repositories are handed: a pooled connection, or (tests, tools) a connection of its own.
# (The classes are generic only in the type stubs.)
if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]
else:
    Connection = PoolConnectionProxy | asyncpg.Connection

# The database or the network is away: the work is not at fault and must wait, not be parked.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)

# Two transactions locked the same rows in opposite orders, or a serialisation check failed:
# running the same work again succeeds.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


async def _init_connection(connection: Connection) -> None:
    # jsonb in and out as Python objects, like SQLAlchemy's JSONB type did.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_dump_json, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(connection: Connection) -> None:
    """What a pooled connection's release runs after asyncpg's own rollback of an unfinished
    transaction: nothing. asyncpg's default sends ``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`` on every release, a round trip to PostgreSQL per acquire, for
    session state that pooled connections never take on here: session advisory locks and
    LISTEN belong to the relay's own connections, settings are transaction-local
    (``set_config(..., true)``), cursors live inside transactions."""


def _dump_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class PoolOptions:
    min_size: int = 2
    max_size: int = 10
    application_name: str = "careplan"
    # A pool of this many connections for the background workers (``Database.workers``);
    # 0: they share the request handlers' pool.
    workers_max_size: int = 0
    # The one connection that measures the service (``probe_connection``).
    probe: bool = True


class Database:
    """An asyncpg pool for the request handlers, one connection for measuring the service, and
    optionally a pool for the background workers. Built unopened (composition roots are
    synchronous); ``open`` once."""

    def __init__(self, sqlalchemy_url: str, options: PoolOptions | None = None) -> None:
        self._options = options or PoolOptions()
        self._dsn = libpq_dsn(sqlalchemy_url)
        self._pool: asyncpg.Pool | None = None
        self._probe_pool: asyncpg.Pool | None = None
        self._workers: Database | None = None
        if self._options.workers_max_size:
            self._workers = Database(
                sqlalchemy_url,
                replace(
                    self._options,
                    min_size=1,
                    max_size=self._options.workers_max_size,
                    application_name=f"{self._options.application_name}-workers",
                    workers_max_size=0,
                    probe=False,
                ),
            )

    @property
    def workers(self) -> Database:
        """The database as the background workers (consumers, sweepers) reach it: through a
        pool of their own when the options give one, so that the path that keeps the
        service's promises never queues for a connection behind the requests that make new
        ones: under an open-loop overload the admitted handlers can hold every pooled
        connection while more wait for one (README, Overload)."""
        return self._workers or self

    async def open(self) -> None:
        """Every pool, or (if one cannot be made) none: a later ``open`` tries them all again."""
        if self._pool is not None:
            return
        try:
            self._pool = await self._create_pool(self._options.min_size, self._options.max_size)
            if self._workers is not None:
                await self._workers.open()
            if self._options.probe:
                # Measuring the service (admission control's backlog, readiness) must not
                # queue behind the requests it is there to judge: under an open-loop overload
                # every pooled connection is held and hundreds of handlers wait for one, and a
                # probe among them reported a backlog seconds old while 201s kept going out
                # (measured: 247 accepted a second against 162 confirmed, POST -> CONFIRMED p99
                # 30 s). One connection of its own.
                self._probe_pool = await self._create_pool(1, 1)
        except BaseException:
            await self.close()
            raise

    async def _create_pool(self, min_size: int, max_size: int) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            # Traced only where a span records (eventing.statement_spans).
            connection_class=QuietConnection,
            # Times in JSON built by PostgreSQL use the session's zone: make that UTC.
            server_settings={"timezone": "UTC", "application_name": self._options.application_name},
        )

    async def close(self) -> None:
        pools, self._pool, self._probe_pool = (self._pool, self._probe_pool), None, None
        for pool in pools:
            if pool is not None:
                await pool.close()
        if self._workers is not None:
            await self._workers.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() was not awaited")
        return self._pool

    # asyncpg's pool is not first come, first served under contention: a caller that asks
    # between a connection's release and the woken waiter's turn takes it, and the waiter
    # queues again at the back (under a 400/s open loop an admitted write waited up to 1.4 s
    # in its handler against a booking's p99 of 0.3 s). A FIFO asyncio.Semaphore in front of
    # the pool made it fair and cost 14 % of the confirmed bookings at that load (seven
    # interleaved pairs, 2026-12-04), probably because a woken waiter leaves its connection idle
    # for a turn of the saturated loop, where a newcomer took it at once. Not kept.
    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for reads that need no transaction of their own."""
        async with self.pool.acquire() as connection:
            with statements_follow_span(connection):
                yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside a transaction, committed when the block ends without error.
        BEGIN and COMMIT are never traced: the statements between them say what happened."""
        async with self.pool.acquire() as connection, connection.transaction():
            with statements_follow_span(connection):
                yield connection

    @asynccontextmanager
    async def probe_connection(self) -> AsyncIterator[Connection]:
        """The connection that measures the service, outside the request handlers' pool."""
        if self._probe_pool is None:
            raise RuntimeError("Database.open() was not awaited, or it has no probe connection")
        async with self._probe_pool.acquire() as connection:
            yield connection

    async def ping(self) -> None:
        async with self.probe_connection() as connection:
            await connection.fetchval("select 1")


def is_connection_error(error: BaseException) -> bool:
    return isinstance(error, CONNECTION_ERRORS)


def constraint_of(error: BaseException) -> str | None:
    """The constraint an integrity error names (asyncpg reports it as a field)."""
    if isinstance(error, asyncpg.exceptions.IntegrityConstraintViolationError):
        name = getattr(error, "constraint_name", None)
        return str(name) if name else None
    return None
