"""Publishes outbox rows to Kafka: woken by LISTEN/NOTIFY, batched, acknowledged, then marked.

Guarantees:
- A row is marked published only after the broker acknowledged it (``acks=all``,
  idempotent producer). A crash between the two re-publishes the row on restart, with the
  same ``ce_id``: consumers deduplicate it in their inbox.
- Per-key order: rows go out in position order, and after a failed delivery nothing beyond
  the first failure is marked, so the failed row and everything after it go out again.
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

import asyncpg
from sqlalchemy import Table

from eventing.cloudevents import to_record
from eventing.outbox import event_from_row, notify_channel
from eventing.producer import AsyncProducer

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
    ) -> None:
        """:param before_mark: awaited with the acknowledged positions before they are marked;
        an observation point (tests use it to kill the relay in exactly that window)."""
        self._dsn = dsn
        self._producer = producer
        self._options = options or RelayOptions()
        self._before_mark = before_mark
        self._qualified = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        self._channel = notify_channel(table.schema)
        self._lock_name = f"outbox-relay:{self._qualified}"
        self.is_leader = False
        self._last_purge = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            if not await self._become_leader(connection, stop):
                return
            wake = asyncio.Event()
            await connection.add_listener(self._channel, lambda *_: wake.set())
            logger.info("outbox relay active", extra={"outbox": self._qualified})
            while not stop.is_set():
                wake.clear()
                relayed = await self.relay_batch(connection)
                if relayed >= self._options.batch_size:
                    continue
                await self._purge_published(connection)
                await _wait_any(wake, stop, timeout=self._options.idle_poll_seconds)
        finally:
            self.is_leader = False
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

    async def relay_batch(self, connection: asyncpg.Connection) -> int:
        rows = await connection.fetch(
            f"select position, event_id, topic, message_key, event_type, source, subject, "
            f"occurred_at, payload::text as payload, traceparent from {self._qualified} "
            f"where published_at is null order by position limit $1",
            self._options.batch_size,
        )
        if not rows:
            return 0
        deliveries = [
            self._producer.send(row["topic"], to_record(event_from_row(dict(row)))) for row in rows
        ]
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        acknowledged: list[int] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                logger.warning(
                    "delivery failed, will retry",
                    extra={"ce_id": row["event_id"], "error": str(outcome)},
                )
                break
            acknowledged.append(row["position"])
        if self._before_mark is not None:
            await self._before_mark(acknowledged)
        if acknowledged:
            await connection.execute(
                f"update {self._qualified} set published_at = now() "
                f"where position = any($1::bigint[])",
                acknowledged,
            )
        if len(acknowledged) < len(rows):
            await asyncio.sleep(self._options.failure_backoff_seconds)
        return len(acknowledged)

    async def _purge_published(self, connection: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now - self._last_purge < self._options.purge_interval_seconds:
            return
        self._last_purge = now
        await connection.execute(
            f"delete from {self._qualified} where published_at < now() - $1::interval",
            self._options.retention,
        )


async def _wait_any(first: asyncio.Event, second: asyncio.Event, *, timeout: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
