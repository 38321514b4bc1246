"""Transactional outbox: events are rows written in the same transaction as the state change.

Only the relay (``relay.py``) publishes them, so an event is published if and only if the
change that caused it committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asyncpg import Record
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
    text,
)
from sqlalchemy.dialects.postgresql import JSON

from eventing.cloudevents import Event, KafkaRecord, binary_headers
from eventing.database import Connection

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
        # json, not jsonb: the text the service wrote is what the relay sends (no re-encoding).
        Column("payload", JSON, nullable=False),
        Column("traceparent", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "position", postgresql_where=text("published_at IS NULL")),
    )


def notify_channel(schema: str | None) -> str:
    return f"{schema or 'public'}_outbox"


def qualified_name(table: Table) -> str:
    return f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'


@dataclass(frozen=True, slots=True)
class Outbox:
    table: Table

    @property
    def channel(self) -> str:
        return notify_channel(self.table.schema)

    @property
    def _insert(self) -> str:
        # All rows in one statement (unnest keeps their order, so positions follow it), and
        # the NOTIFY in the same round trip: delivered at commit, folded per transaction.
        return (
            f"with staged as (insert into {qualified_name(self.table)} (event_id, topic,"
            " message_key, event_type, source, subject, occurred_at, payload, traceparent)"
            " select id, topic, key, type, source, subject, coalesce(time, now()), data, tp"
            " from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::timestamptz[], $8::json[], $9::text[])"
            " as e(id, topic, key, type, source, subject, time, data, tp) returning 1)"
            " select pg_notify($10, '')"
        )

    async def backlog(self, connection: Connection) -> tuple[float, int]:
        """(age in seconds of the oldest unpublished row, how many wait); both from the
        partial index of unpublished rows, so cheap however large the published history."""
        table = qualified_name(self.table)
        row = await connection.fetchrow(
            "select coalesce(extract(epoch from now() - (select created_at from"
            f" {table} where published_at is null order by position limit 1)), 0)::float8 as age,"
            f" (select count(*) from {table} where published_at is null) as waiting"
        )
        assert row is not None
        return max(0.0, float(row["age"])), int(row["waiting"])

    async def add(self, connection: Connection, topic: str, events: Iterable[Event]) -> None:
        """Stage events in the caller's transaction and wake the relay when it commits."""
        await self.add_all(connection, [(topic, event) for event in events])

    async def add_all(self, connection: Connection, messages: Sequence[tuple[str, Event]]) -> None:
        """``add`` for events bound to several topics, in the given order."""
        if not messages:
            return
        events = [event for _, event in messages]
        await connection.execute(
            self._insert,
            [event.id for event in events],
            [topic for topic, _ in messages],
            [event.key for event in events],
            [event.type for event in events],
            [event.source for event in events],
            [event.subject for event in events],
            [event.time for event in events],
            [event.data for event in events],
            [event.traceparent for event in events],
            self.channel,
        )


def record_from_row(row: Record, *, traceparent: str | None = None) -> KafkaRecord:
    """The Kafka record of an outbox row: its payload text as stored (json, compact, as the
    service serialised it) is the value, unparsed. ``traceparent`` (the relay's publish span)
    replaces the row's own."""
    headers = binary_headers(
        id=row["event_id"],
        source=row["source"],
        type=row["event_type"],
        time=row["occurred_at"],
        subject=row["subject"],
        traceparent=traceparent or row["traceparent"],
    )
    key = row["message_key"]
    return KafkaRecord(
        key=key.encode() if key is not None else None,
        value=row["payload"].encode(),
        headers=headers,
    )
