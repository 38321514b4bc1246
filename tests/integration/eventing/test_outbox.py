"""The outbox's backlog figures (health and metrics read them): age of the oldest unpublished
row and how many wait; published rows do not count."""

from __future__ import annotations

import pytest

from devstack.settings import DevstackSettings
from eventing.cloudevents import Event
from eventing.database import Connection
from eventing.outbox import Outbox
from tests.support.database import isolated_schema

pytestmark = pytest.mark.integration


async def test_backlog_counts_only_unpublished_rows_and_ages_from_the_oldest(
    infrastructure: DevstackSettings,
) -> None:
    async with isolated_schema(infrastructure, "outbox_backlog") as schema:
        outbox = Outbox(schema.outbox)
        async with schema.database.connection() as connection:
            assert await outbox.backlog(connection) == (0.0, 0)

        async with schema.database.transaction() as connection:
            events = [Event.new(source="/t", type="A", data={"n": n}, key=str(n)) for n in range(3)]
            await outbox.add(connection, "t", events)
        async with schema.database.connection() as connection:
            await _set_on_oldest(
                connection, schema.name, "created_at = now() - interval '90 seconds'"
            )
            age, waiting = await outbox.backlog(connection)
            assert waiting == 3
            assert 90.0 <= age < 3600.0

            await _set_on_oldest(connection, schema.name, "published_at = now()")
            age, waiting = await outbox.backlog(connection)
            assert waiting == 2
            assert 0.0 <= age < 90.0


async def _set_on_oldest(connection: Connection, schema: str, assignment: str) -> None:
    await connection.execute(
        f'update "{schema}".outbox set {assignment}'
        f' where position = (select min(position) from "{schema}".outbox)'
    )
