"""Idempotent consumer: the ids of processed events are recorded with the handler's effects.

Both go in one database transaction, so a redelivered event (a relay that crashed before
marking, a consumer that crashed before committing its offset) changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eventing.cloudevents import Event
from eventing.consumer_types import RecordContext, RecordHandler

INBOX_TABLE = "inbox"

EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        INBOX_TABLE,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


@dataclass(frozen=True, slots=True)
class Inbox:
    table: Table
    consumer: str

    async def first_delivery(self, session: AsyncSession, event_id: str) -> bool:
        """Record the event as processed; False if it already was (then skip the effects).

        A concurrent duplicate waits on the primary key until the first commits, then sees
        the conflict: the effects happen once even with two consumers racing.
        """
        result = await session.execute(
            insert(self.table)
            .values(consumer=self.consumer, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None


def idempotent(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox, handler: EventHandler
) -> RecordHandler:
    """Wrap ``handler`` so that it runs once per event id, in one transaction with the mark."""

    async def handle(event: Event, _: RecordContext) -> None:
        async with sessions.begin() as session:
            if await inbox.first_delivery(session, event.id):
                await handler(session, event)

    return handle
