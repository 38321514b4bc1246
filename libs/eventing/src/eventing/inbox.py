"""Idempotent consumer: the ids of processed events are recorded with the handler's effects.

Both go in one database transaction, so a redelivered event (a relay that crashed before
marking, a consumer that crashed before committing its offset) changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, Table, Text, func

from eventing.cloudevents import Event
from eventing.consumer_types import BatchHandler, RecordContext, RecordHandler
from eventing.database import Connection, Database
from eventing.outbox import qualified_name

INBOX_TABLE = "inbox"

EventHandler = Callable[[Connection, Event], Awaitable[object]]
EventsHandler = Callable[[Connection, Sequence[Event]], Awaitable[object]]


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        INBOX_TABLE,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
        # The index on processed_at that the retention purge uses is created by each
        # service's own migration: the first migrations build this table from this function.
    )


@dataclass(frozen=True, slots=True)
class Inbox:
    table: Table
    consumer: str

    @property
    def _mark(self) -> str:
        return (
            f"insert into {qualified_name(self.table)} (consumer, event_id)"
            " select $1, unnest($2::text[]) on conflict do nothing returning event_id"
        )

    async def first_deliveries(self, connection: Connection, event_ids: Sequence[str]) -> set[str]:
        """Record the events as processed; the ids that were not recorded before.

        A concurrent duplicate waits on the primary key until the first commits, then sees
        the conflict: the effects happen once even with two consumers racing.
        """
        rows = await connection.fetch(self._mark, self.consumer, list(event_ids))
        return {row["event_id"] for row in rows}

    async def first_delivery(self, connection: Connection, event_id: str) -> bool:
        return bool(await self.first_deliveries(connection, [event_id]))


def idempotent(database: Database, inbox: Inbox, handler: EventHandler) -> RecordHandler:
    """Wrap ``handler`` so that it runs once per event id, in one transaction with the mark."""

    async def handle(event: Event, _: RecordContext) -> None:
        async with database.transaction() as connection:
            if await inbox.first_delivery(connection, event.id):
                await handler(connection, event)

    return handle


def idempotent_batch(database: Database, inbox: Inbox, handler: EventHandler) -> BatchHandler:
    """The records of one poll in one transaction: one inbox statement for all of them, then
    ``handler`` for each event not seen before, in order; one commit. If anything fails the
    whole transaction rolls back and the consumer runner retries record by record."""

    async def each_in_order(connection: Connection, events: Sequence[Event]) -> None:
        for event in events:
            await handler(connection, event)

    return idempotent_set(database, inbox, each_in_order)


def idempotent_set(database: Database, inbox: Inbox, handler: EventsHandler) -> BatchHandler:
    """``idempotent_batch`` for a handler that takes the poll's events not seen before all
    at once (in order, each once), to apply them in a few statements whatever their number."""

    async def handle(records: Sequence[tuple[Event, RecordContext]]) -> None:
        async with database.transaction() as connection:
            fresh = await inbox.first_deliveries(connection, [event.id for event, _ in records])
            events = []
            for event, _ in records:
                if event.id in fresh:
                    fresh.discard(event.id)  # a duplicate inside the batch runs once
                    events.append(event)
            if events:
                await handler(connection, events)

    return handle


def one_at_a_time(handler: EventsHandler) -> EventHandler:
    """A handler of many events as one of a single event (``idempotent``'s, which the runner
    uses record by record when a batch failed)."""

    async def handle(connection: Connection, event: Event) -> object:
        return await handler(connection, [event])

    return handle
