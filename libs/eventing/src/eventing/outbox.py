"""Transactional outbox: events are rows written in the same transaction as the state change.

Only the relay (``relay.py``) publishes them, so an event is published if and only if the
change that caused it committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from eventing.cloudevents import Event

OUTBOX_TABLE = "outbox"


def outbox_table(metadata: MetaData) -> Table:
    """The outbox in the service's own schema (``metadata.schema``)."""
    return Table(
        OUTBOX_TABLE,
        metadata,
        # Commit order is not id order, but within one key the writer's transactions are
        # serialised by the entity's row lock, so position order is the key's event order.
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("message_key", Text),
        Column("event_type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("subject", Text),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("traceparent", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "position", postgresql_where=text("published_at IS NULL")),
    )


def notify_channel(schema: str | None) -> str:
    return f"{schema or 'public'}_outbox"


@dataclass(frozen=True, slots=True)
class Outbox:
    table: Table

    @property
    def channel(self) -> str:
        return notify_channel(self.table.schema)

    async def add(self, session: AsyncSession, topic: str, events: Iterable[Event]) -> None:
        """Stage events in the caller's transaction and wake the relay when it commits."""
        rows = [
            {
                "event_id": event.id,
                "topic": topic,
                "message_key": event.key,
                "event_type": event.type,
                "source": event.source,
                "subject": event.subject,
                "occurred_at": event.time or func.now(),
                "payload": event.data,
                "traceparent": event.traceparent,
            }
            for event in events
        ]
        if not rows:
            return
        await session.execute(insert(self.table), rows)
        # NOTIFY is delivered at commit and folded per transaction, so this costs one
        # message per transaction however many rows it wrote.
        await session.execute(select(func.pg_notify(self.channel, "")))


def event_from_row(row: dict[str, object]) -> Event:
    payload = row["payload"]
    data = json.loads(payload) if isinstance(payload, str | bytes) else payload
    return Event(
        id=str(row["event_id"]),
        source=str(row["source"]),
        type=str(row["event_type"]),
        data=data,  # type: ignore[arg-type]
        key=row["message_key"],  # type: ignore[arg-type]
        subject=row["subject"],  # type: ignore[arg-type]
        time=row["occurred_at"],  # type: ignore[arg-type]
        traceparent=row["traceparent"],  # type: ignore[arg-type]
    )
