"""Publishes outbox rows to Kafka: woken by LISTEN/NOTIFY, batched, acknowledged, then marked.

Guarantees:
- A row is marked published only after the broker acknowledged it (``acks=all``,
  idempotent producer). A crash between the two re-publishes the row on restart, with the
  same ``ce_id``: consumers deduplicate it in their inbox. The marking of one batch overlaps
  the sending of the next; the next batch is only sent once the one before was acknowledged
  in full, so the overlap never reorders a key.
- Per-key order: rows go out in position order, and after a failed delivery nothing beyond
  the first failure is marked, so the failed row and everything after it go out again, at
  once. The broker's retries keep order by themselves (idempotent producer); only a record
  the broker refuses for good lets the rows after it in the batch arrive before it, and then
  their second copies follow it: the last copy of each key's events is in order, which is
  what a consumer keeping per-key state by version converges on (tested by refusing one
  record in the middle of a batch).
- One active relay per outbox: a session-level advisory lock; a standby relay takes over
  when the holder's connection ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import asyncpg
from opentelemetry.trace import SpanKind
from sqlalchemy import Table

from eventing.cloudevents import KafkaRecord
from eventing.outbox import notify_channel, record_from_row
from eventing.producer import AsyncProducer
from eventing.statement_spans import QuietConnection
from telemetry import Tracing

logger = logging.getLogger(__name__)

PublishedHook = Callable[[Sequence[int]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RelayOptions:
    batch_size: int = 1000
    # NOTIFY wakes the relay; this poll only covers a notification lost while reconnecting.
    idle_poll_seconds: float = 5.0
    standby_poll_seconds: float = 1.0
    retention: timedelta = timedelta(hours=1)
    # Purging published rows is housekeeping: at most this often, not on every wake-up.
    purge_interval_seconds: float = 60.0
    # Rows deleted per statement; a full batch purges again at the next idle moment. In one
    # statement, a relay that found a day's published rows (stopped, or a benchmark platform
    # reused) deleted hundreds of thousands at once, and the autovacuum behind them took a
    # core in the middle of whatever ran then (README, Measured).
    purge_batch_size: int = 5_000
    failure_backoff_seconds: float = 1.0


class OutboxRelay:
    def __init__(
        self,
        *,
        dsn: str,
        table: Table,
        producer: AsyncProducer,
        options: RelayOptions | None = None,
        before_mark: PublishedHook | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """:param before_mark: awaited with the acknowledged positions before they are marked;
        an observation point (tests use it to kill the relay in exactly that window).
        :param tracing: on, each batch is a span linked to the transactions it publishes,
        and each record a publish span, child of the transaction that wrote its row."""
        self._dsn = dsn
        self._tracing = tracing or Tracing()
        self._producer = producer
        self._options = options or RelayOptions()
        self._before_mark = before_mark
        self._qualified = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        self._channel = notify_channel(table.schema)
        self._lock_name = f"outbox-relay:{self._qualified}"
        self.is_leader = False
        self._last_purge = float("-inf")
        self._marking: asyncio.Task[None] | None = None
        self._marking_positions: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        # Its statements run outside every span and are never traced: quiet connections skip
        # the asyncpg instrumentation's wrapper (eventing.statement_spans).
        connection = await asyncpg.connect(self._dsn, connection_class=QuietConnection)
        marker: asyncpg.Connection | None = None
        try:
            if not await self._become_leader(connection, stop):
                return
            # Marking a batch published is the slowest step after the broker's ack (an
            # update of every row): it runs on a second connection while the next batch is
            # fetched and sent.
            marker = await asyncpg.connect(self._dsn, connection_class=QuietConnection)
            wake = asyncio.Event()
            await connection.add_listener(self._channel, lambda *_: wake.set())
            logger.info("outbox relay active", extra={"outbox": self._qualified})
            while not stop.is_set():
                wake.clear()
                relayed, failed = await self._relay_batch(connection, marker)
                if relayed >= self._options.batch_size or failed:
                    continue  # more is waiting, or what failed is to be sent again now
                await self._marked()
                await self._purge_published(connection)
                await _wait_any(wake, stop, timeout=self._options.idle_poll_seconds)
            await self._marked()
        finally:
            self.is_leader = False
            self._abandon_marking()
            if marker is not None:
                await marker.close()
            await connection.close()

    async def _become_leader(self, connection: asyncpg.Connection, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            acquired = await connection.fetchval(
                "select pg_try_advisory_lock(hashtext($1))", self._lock_name
            )
            if acquired:
                self.is_leader = True
                return True
            await _wait_any(asyncio.Event(), stop, timeout=self._options.standby_poll_seconds)
        return False

    async def _relay_batch(
        self, connection: asyncpg.Connection, marker: asyncpg.Connection
    ) -> tuple[int, bool]:
        """One batch: (rows acknowledged, whether a delivery failed)."""
        # Rows whose marking is still running are left out (a hashed NOT IN): they were sent.
        rows = await connection.fetch(
            f"select position, event_id, topic, message_key, event_type, source, subject,"
            f" occurred_at, payload::text as payload, traceparent from {self._qualified}"
            f" where published_at is null and position not in (select unnest($2::bigint[]))"
            f" order by position limit $1",
            self._options.batch_size,
            self._marking_positions,
        )
        if not rows:
            return 0, False
        if self._tracing.enabled:
            with self._tracing.span(
                "outbox relay publish",
                kind=SpanKind.PRODUCER,
                attributes={"messaging.batch.message_count": len(rows)},
                links=[row["traceparent"] for row in rows],
            ):
                outcomes = await self._producer.send_many(self._traced_records(rows))
        else:
            outcomes = await self._producer.send_many(
                [(row["topic"], record_from_row(row)) for row in rows]
            )
        acknowledged: list[int] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is not None:
                logger.warning(
                    "delivery failed, will retry",
                    extra={"ce_id": row["event_id"], "error": str(outcome)},
                )
                break
            acknowledged.append(row["position"])
        if self._before_mark is not None:
            await self._before_mark(acknowledged)
        await self._marked()
        if acknowledged:
            self._marking_positions = acknowledged
            self._marking = asyncio.create_task(self._mark(marker, acknowledged))
        if len(acknowledged) < len(rows):
            await self._marked()
            await asyncio.sleep(self._options.failure_backoff_seconds)
            return len(acknowledged), True
        return len(acknowledged), False

    def _traced_records(self, rows: list[asyncpg.Record]) -> list[tuple[str, KafkaRecord]]:
        """Each row's record under a publish span of its own transaction's trace; the record
        carries that span's traceparent, so its consumer's span hangs under the publish."""
        records = []
        for row in rows:
            traceparent = self._tracing.span_ended_at_once(
                f"publish {row['topic']}",
                parent=row["traceparent"],
                kind=SpanKind.PRODUCER,
                attributes=partial(_publish_attributes, row),
            )
            records.append((row["topic"], record_from_row(row, traceparent=traceparent)))
        return records

    async def _mark(self, marker: asyncpg.Connection, positions: list[int]) -> None:
        await marker.execute(
            f"update {self._qualified} set published_at = now() where position = any($1::bigint[])",
            positions,
        )

    async def _marked(self) -> None:
        """Wait for the marking in flight; a failure ends the relay (rows are sent again)."""
        if self._marking is not None:
            marking, self._marking = self._marking, None
            try:
                await marking
            finally:
                self._marking_positions = []

    def _abandon_marking(self) -> None:
        if self._marking is not None:
            self._marking.cancel()
            self._marking, self._marking_positions = None, []

    async def _purge_published(self, connection: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now - self._last_purge < self._options.purge_interval_seconds:
            return
        self._last_purge = now
        # ctid: the physical rows, so that the statement deletes exactly the batch it chose.
        status = await connection.execute(
            f"delete from {self._qualified} where ctid = any(array(select ctid from"
            f" {self._qualified} where published_at < now() - $1::interval limit $2))",
            self._options.retention,
            self._options.purge_batch_size,
        )
        if int(status.split()[-1]) >= self._options.purge_batch_size:
            self._last_purge = float("-inf")  # more is due: the next idle moment goes on


async def _wait_any(first: asyncio.Event, second: asyncio.Event, *, timeout: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


def _publish_attributes(row: asyncpg.Record) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": row["topic"],
        "messaging.message.id": row["event_id"],
        "cloudevents.event_type": row["event_type"],
    }
