"""Retention: rows kept only as long as they are useful, deleted in small batches.

The inbox must remember an event id as long as the event can be delivered again (a relay that
died between ack and mark, a consumer group rewound, a DLT replay): days, not forever. Each
batch is its own short transaction, so that a purge never holds locks over many rows or
competes for long with the consumers writing to the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter

from eventing.database import Database

logger = logging.getLogger(__name__)

DELETED = Counter(
    "retention_deleted_rows_total", "Rows deleted because they outlived their retention", ["table"]
)

DEFAULT_INBOX_RETENTION = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RetentionRule:
    table: str  # schema-qualified, quoted as needed
    time_column: str  # rows whose time is older than ``keep`` are deleted
    keep: timedelta


class RetentionPurger:
    def __init__(
        self,
        database: Database,
        rules: Sequence[RetentionRule],
        *,
        batch_size: int = 1000,
        interval_seconds: float = 600.0,
    ) -> None:
        self._database = database
        self._rules = list(rules)
        self._batch_size = batch_size
        self._interval = interval_seconds

    async def purge_once(self) -> dict[str, int]:
        """Delete every expired row, a batch per transaction; the rows deleted per table."""
        deleted: dict[str, int] = {}
        for rule in self._rules:
            # ctid: the physical row, so that one statement deletes exactly the batch it chose
            # with the index on the time column, whatever the table's key is.
            statement = (
                f"delete from {rule.table} where ctid = any(array("
                f"select ctid from {rule.table} where {rule.time_column} < now() - $1::interval"
                " limit $2))"
            )
            total = 0
            while True:
                async with self._database.transaction() as connection:
                    status = await connection.execute(statement, rule.keep, self._batch_size)
                count = int(status.split()[-1])
                total += count
                DELETED.labels(rule.table).inc(count)
                if count < self._batch_size:
                    break
            deleted[rule.table] = total
        return deleted

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                deleted = await self.purge_once()
                if any(deleted.values()):
                    logger.info("expired rows deleted", extra={"deleted": deleted})
            except Exception as error:  # the database away: try again next round
                logger.warning("retention purge failed", extra={"error": repr(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
