"""A batched consumer run as its own process, so that a test can SIGKILL it mid-batch.

argv: database_url schema bootstrap_servers topic group signal_file
      [--hang-mid-batch | --hang-after-commit]
Each event inserts one row into ``<schema>.effects``. With --hang-mid-batch the batch handler,
once it has applied half of a batch of two or more records inside its transaction, writes
their event ids to signal_file and waits forever: the transaction is open, nothing of it is
committed. With --hang-after-commit it lets the first batch of two or more records commit its
transaction, then writes their event ids to signal_file and waits forever before the runner
commits the offsets: the window between the database commit and the offset commit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import MetaData

from eventing.cloudevents import Event
from eventing.consumer import ConsumerRunner
from eventing.consumer_types import RecordContext
from eventing.database import Connection, Database
from eventing.inbox import Inbox, idempotent, idempotent_batch, inbox_table
from eventing.producer import AsyncProducer


async def main(argv: list[str]) -> None:
    database_url, schema, bootstrap, topic, group, signal_file = argv[:6]
    hang = "--hang-mid-batch" in argv
    hang_after_commit = "--hang-after-commit" in argv
    database = Database(database_url)
    await database.open()
    inbox = Inbox(inbox_table(MetaData(schema=schema)), "effects")
    applied_in_batch: list[str] = []

    async def apply(connection: Connection, event: Event) -> None:
        await connection.execute(
            f'insert into "{schema}".effects (event_id, applied) values ($1, 1)', event.id
        )

    batch = idempotent_batch(database, inbox, apply)

    async def batch_then_maybe_hang(records: Sequence[tuple[Event, RecordContext]]) -> None:
        if hang_after_commit and len(records) >= 2:
            await batch(records)  # committed
            Path(signal_file).write_text(",".join(event.id for event, _ in records))
            await asyncio.Event().wait()
        if not hang or len(records) < 2:
            await batch(records)
            return
        half = len(records) // 2

        async def apply_then_hang(connection: Connection, event: Event) -> None:
            await apply(connection, event)
            applied_in_batch.append(event.id)
            if len(applied_in_batch) == half:
                Path(signal_file).write_text(",".join(applied_in_batch))
                await asyncio.Event().wait()

        await idempotent_batch(database, inbox, apply_then_hang)(records)

    producer = AsyncProducer({"bootstrap.servers": bootstrap})
    runner = ConsumerRunner(
        client_config={"bootstrap.servers": bootstrap},
        group_id=group,
        topics=[topic],
        handler=idempotent(database, inbox, apply),
        batch_handler=batch_then_maybe_hang,
        producer=producer,
    )
    if not (hang or hang_after_commit):
        Path(signal_file).write_text("running")
    await runner.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
