"""A relay run as its own process, so that a test can SIGKILL it.

argv: dsn schema bootstrap_servers signal_file [--pause-before-mark]
With --pause-before-mark it writes the acknowledged positions to signal_file once the broker
acknowledged a batch, then waits forever instead of marking the rows.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import MetaData

from eventing.outbox import outbox_table
from eventing.producer import AsyncProducer
from eventing.relay import OutboxRelay


async def main(argv: list[str]) -> None:
    dsn, schema, bootstrap, signal_file = argv[:4]
    pause = "--pause-before-mark" in argv

    async def acknowledged_then_hang(positions: Sequence[int]) -> None:
        Path(signal_file).write_text(json.dumps(list(positions)))
        await asyncio.Event().wait()

    producer = AsyncProducer({"bootstrap.servers": bootstrap})
    relay = OutboxRelay(
        dsn=dsn,
        table=outbox_table(MetaData(schema=schema)),
        producer=producer,
        before_mark=acknowledged_then_hang if pause else None,
    )
    if not pause:
        Path(signal_file).write_text("running")
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
