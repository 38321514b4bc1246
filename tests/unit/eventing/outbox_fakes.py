"""In-memory stand-ins for the relay's PostgreSQL connections and its producer.

They play the outbox table's semantics (unpublished rows in position order, the advisory
lock per name held by one connection until it closes) so that unit tests can pin the relay's
decisions: which rows it sends, which it marks, when it waits. Whether the SQL itself does
that on a real PostgreSQL is tests/integration/eventing/test_relay.py's claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError

from eventing.cloudevents import KafkaRecord
from eventing.producer import DeliveryError

OCCURRED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def outbox_row(position: int, *, key: str | None = "k", topic: str = "things") -> dict[str, Any]:
    return {
        "position": position,
        "event_id": f"e{position}",
        "topic": topic,
        "message_key": key,
        "event_type": "THING_HAPPENED",
        "source": "/things",
        "subject": None,
        "occurred_at": OCCURRED,
        "payload": f'{{"n":{position}}}',
        "traceparent": None,
    }


@dataclass
class FakeOutboxDatabase:
    """The rows of one outbox table and the advisory locks of the server."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    published: set[int] = field(default_factory=set)
    lock_holders: dict[str, FakeConnection] = field(default_factory=dict)
    connections: list[FakeConnection] = field(default_factory=list)
    fetches: list[tuple[int, list[int]]] = field(default_factory=list)
    purges: list[Any] = field(default_factory=list)
    # The rows each purge finds to delete, in order; then none.
    purgeable: list[int] = field(default_factory=list)
    # Set, marking waits for it: a marking still running while the next batch is fetched.
    mark_gate: asyncio.Event | None = None
    mark_error: Exception | None = None
    # The fetch (counted from 1) that fails as a lost connection would.
    failing_fetch: int | None = None

    def add(self, *positions: int) -> None:
        self.rows.extend(outbox_row(position) for position in positions)

    async def connect(self, dsn: str, *, connection_class: type | None = None) -> FakeConnection:
        """asyncpg.connect as the relay calls it (the class asked for is asyncpg's concern)."""
        connection = FakeConnection(self, dsn)
        self.connections.append(connection)
        return connection

    def notify(self, channel: str) -> None:
        for connection in self.connections:
            if not connection.closed:
                for listened, callback in connection.listeners:
                    if listened == channel:
                        callback(connection, 0, channel, "")


class FakeConnection:
    def __init__(self, database: FakeOutboxDatabase, dsn: str) -> None:
        self.database = database
        self.dsn = dsn
        self.closed = False
        self.listeners: list[tuple[str, Callable[..., None]]] = []

    async def fetchval(self, sql: str, lock_name: str) -> bool:
        assert "pg_try_advisory_lock" in sql
        holder = self.database.lock_holders.setdefault(lock_name, self)
        return holder is self

    async def fetch(self, sql: str, limit: int, excluded: list[int]) -> list[dict[str, Any]]:
        self.database.fetches.append((limit, list(excluded)))
        if len(self.database.fetches) == self.database.failing_fetch:
            raise ConnectionError("connection lost while fetching")
        waiting = [
            row
            for row in sorted(self.database.rows, key=lambda row: row["position"])
            if row["position"] not in self.database.published and row["position"] not in excluded
        ]
        return waiting[:limit]

    async def execute(self, sql: str, argument: Any, limit: int | None = None) -> str:
        if sql.startswith("update"):
            if self.database.mark_gate is not None:
                await self.database.mark_gate.wait()
            if self.database.mark_error is not None:
                raise self.database.mark_error
            self.database.published.update(argument)
            return f"UPDATE {len(argument)}"
        if sql.startswith("delete"):
            assert limit is not None
            self.database.purges.append(argument)
            found = self.database.purgeable.pop(0) if self.database.purgeable else 0
            return f"DELETE {min(found, limit)}"
        raise AssertionError(sql)

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None:
        self.listeners.append((channel, callback))

    async def close(self) -> None:
        self.closed = True
        for name, holder in list(self.database.lock_holders.items()):
            if holder is self:
                del self.database.lock_holders[name]


class FakeProducer:
    """Acknowledges every record, except those whose event id is in ``refuse`` (once each)."""

    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.batches: list[list[tuple[str, KafkaRecord]]] = []
        self._refuse = set(refuse)

    @property
    def sent_ids(self) -> list[list[str]]:
        return [[dict(record.headers)["ce_id"].decode() for _, record in b] for b in self.batches]

    async def send_many(
        self, records: Sequence[tuple[str, KafkaRecord]]
    ) -> list[DeliveryError | None]:
        self.batches.append(list(records))
        outcomes: list[DeliveryError | None] = []
        for _, record in records:
            event_id = dict(record.headers)["ce_id"].decode()
            if event_id in self._refuse:
                self._refuse.discard(event_id)
                outcomes.append(DeliveryError(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
            else:
                outcomes.append(None)
        return outcomes
