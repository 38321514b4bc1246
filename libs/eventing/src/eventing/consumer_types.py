"""Types shared by the consumer runner, the inbox and the dead-letter publisher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from eventing.cloudevents import Event


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Where a record came from, and its raw bytes (kept for the dead-letter topic)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


RecordHandler = Callable[[Event, RecordContext], Awaitable[None]]
# The records of one poll of one partition, in offset order, applied together.
BatchHandler = Callable[[Sequence[tuple[Event, RecordContext]]], Awaitable[None]]


class PermanentError(Exception):
    """Raise from a handler for a record that can never succeed: it goes to the DLT at once."""
