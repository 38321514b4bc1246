"""What Care Plan has promised and not finished: the signals of admission control."""

from __future__ import annotations

from datetime import timedelta

from care_plan.persistence import tables
from eventing.admission import Backlog
from eventing.database import Database
from eventing.outbox import Outbox


async def measure(database: Database, outbox: Outbox, timeout: timedelta) -> Backlog:
    """The waiting bookings and the oldest one's age (from the index of waiting bookings by
    deadline: its deadline minus the timeout is when it was requested), and the outbox's
    backlog."""
    async with database.probe_connection() as connection:
        waiting = await connection.fetchrow(
            "select count(*) as n, extract(epoch from now() - min(expires_at))::float8 as age"
            f" from {tables.SCHEMA}.bookings where status = 'WAITING_FOR_CONFIRMATION'"
        )
        age, unpublished = await outbox.backlog(connection)
    assert waiting is not None  # an aggregate always has its row
    # None: nothing waits.
    oldest_waiting = (
        0.0 if waiting["age"] is None else max(0.0, waiting["age"] + timeout.total_seconds())
    )
    return Backlog(
        oldest_waiting_booking=oldest_waiting,
        oldest_unpublished_event=age,
        unpublished_events=unpublished,
        waiting_bookings=waiting["n"],
    )
