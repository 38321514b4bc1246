"""The services' pool gives a connection back without asyncpg's reset query (one round trip
less per acquire, ``eventing.database._keep_session``): what a pooled connection may carry
from one user to the next is checked here on the session's PostgreSQL, with a pool of one
connection so that the next user is sure to get the same one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from devstack.settings import DevstackSettings
from eventing.database import Database, PoolOptions

pytestmark = pytest.mark.integration

DEFAULT_NAME = "careplan-pool-test"


@pytest.fixture
async def database(infrastructure: DevstackSettings) -> AsyncIterator[Database]:
    database = Database(
        infrastructure.sqlalchemy_url,
        PoolOptions(min_size=1, max_size=1, application_name=DEFAULT_NAME),
    )
    await database.open()
    yield database
    await database.close()


async def test_a_transaction_left_open_is_rolled_back_before_the_next_user(
    database: Database,
) -> None:
    async with database.connection() as connection:
        backend = await connection.fetchval("select pg_backend_pid()")
        await connection.execute("begin")
        await connection.execute("select set_config('application_name', 'left-open', true)")
    async with database.connection() as connection:
        assert await connection.fetchval("select pg_backend_pid()") == backend  # the same one
        assert not connection.is_in_transaction()
        assert await connection.fetchval("select current_setting('application_name')") == (
            DEFAULT_NAME
        )


async def test_a_failed_unit_of_work_leaves_nothing_for_the_next_user(database: Database) -> None:
    async def failing_unit() -> None:
        async with database.transaction() as connection:
            # What eventing.database_roles does: settings local to the transaction.
            await connection.execute("select set_config('application_name', 'in-unit', true)")
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_unit()
    async with database.connection() as connection:
        assert not connection.is_in_transaction()
        assert await connection.fetchval("select current_setting('application_name')") == (
            DEFAULT_NAME
        )


async def test_the_workers_get_a_connection_while_every_request_connection_is_held(
    infrastructure: DevstackSettings,
) -> None:
    database = Database(
        infrastructure.sqlalchemy_url,
        PoolOptions(min_size=1, max_size=1, application_name=DEFAULT_NAME, workers_max_size=1),
    )
    await database.open()
    try:
        async with database.transaction() as held:
            # A request would now wait for the one connection; a worker does not.
            waiting = asyncio.ensure_future(database.pool.acquire())
            async with asyncio.timeout(5), database.workers.transaction() as connection:
                assert await connection.fetchval("select current_setting('application_name')") == (
                    f"{DEFAULT_NAME}-workers"
                )
                assert await connection.fetchval("select pg_backend_pid()") != (
                    await held.fetchval("select pg_backend_pid()")
                )
            assert not waiting.done()
        await database.pool.release(await waiting)
        # The measuring connection is the service's, not the workers'.
        await database.ping()
        with pytest.raises(RuntimeError, match="no probe connection"):
            await database.workers.ping()
    finally:
        await database.close()


async def test_without_a_workers_pool_the_workers_share_the_requests_pool(
    database: Database,
) -> None:
    assert database.workers is database
