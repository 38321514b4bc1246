"""Which booking a record on the wire belongs to, and each booking's hops in order (pure).

A hop is one record of a booking on one topic. Hops are ordered by the records' timestamps
(the producer's CreateTime, the booking's own order), but a hop's latency is measured from
when the page's consumer read the records: a stream processor gives its output its input's
timestamp (careplan.bookings.insured keeps careplan.bookings' time), which would show 0 ms.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contract import topics


class State(StrEnum):
    """What a booking is, as its latest hop tells; each has a word and a symbol on the page,
    so that no state is told apart by colour alone."""

    WAITING = "waiting"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# The state a booking is in once a record of this type is written.
_STATE_AFTER: dict[str, State] = {
    "BOOKING_CREATION_REQUEST": State.WAITING,
    "BOOKING_REQUEST_CONFIRMED": State.WAITING,
    "BOOKING_REQUEST_REJECTED": State.REJECTED,
    "BOOKING_CONFIRMED": State.CONFIRMED,
    "BOOKING_REJECTED": State.REJECTED,
    "BOOKING_EXPIRED": State.EXPIRED,
    "BOOKING_CANCELLED": State.CANCELLED,
    "BOOKING_CANCELLATION_REQUEST": State.CANCELLED,
}

# Where a record of the story was written, in the order a booking crosses them: ties between
# records with the same timestamp keep this order.
BOOKING_TOPICS: tuple[str, ...] = (
    topics.BOOKING_REQUESTS,
    topics.BOOKING_REPLIES,
    topics.CAREPLAN_BOOKINGS,
    topics.CAREPLAN_BOOKINGS_INSURED,
)


@dataclass(frozen=True, slots=True)
class Record:
    """What the page needs of one Kafka record."""

    topic: str
    event_type: str
    key: str
    data: dict[str, Any]
    timestamp_ms: int
    partition: int = -1
    offset: int = -1
    # When the page's consumer read it (wall clock, ms); the record timestamp if unknown.
    seen_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    topic: str
    event_type: str
    timestamp_ms: int
    seen_ms: int
    # Since the booking's previous hop was seen; None for its first.
    latency_ms: int | None
    partition: int
    offset: int


@dataclass
class Journey:
    booking_id: str
    hops: list[Hop] = field(default_factory=list)
    state: State = State.WAITING

    @property
    def started_ms(self) -> int:
        return self.hops[0].timestamp_ms if self.hops else 0


def booking_id_of(record: Record) -> str | None:
    """The booking a record is about, from its data (the contract's payloads), or None."""
    data = record.data
    if record.topic == topics.BOOKING_REQUESTS:
        value = data.get("id")
    elif record.topic == topics.BOOKING_REPLIES:
        value = data.get("bookingId")
    elif record.topic in (topics.CAREPLAN_BOOKINGS, topics.CAREPLAN_BOOKINGS_INSURED):
        booking = data.get("booking")
        value = booking.get("id") if isinstance(booking, dict) else None
    else:
        return None
    return value if isinstance(value, str) else None


def _order(hop: Hop) -> tuple[int, int]:
    return hop.timestamp_ms, BOOKING_TOPICS.index(hop.topic)


class Journeys:
    """The latest bookings seen on the wire, each with its hops; the oldest are forgotten."""

    def __init__(self, *, keep: int = 50) -> None:
        self._keep = keep
        self._journeys: OrderedDict[str, Journey] = OrderedDict()

    def add(self, record: Record) -> Journey | None:
        """Note a record; returns the journey it extended, or None if it is no booking's."""
        booking_id = booking_id_of(record)
        if booking_id is None:
            return None
        journey = self._journeys.pop(booking_id, None) or Journey(booking_id)
        self._journeys[booking_id] = journey
        while len(self._journeys) > self._keep:
            self._journeys.popitem(last=False)
        if any(h.topic == record.topic and h.offset == record.offset for h in journey.hops):
            return journey  # the same record read twice (a consumer restart): one hop
        hops = [
            *journey.hops,
            Hop(
                record.topic,
                record.event_type,
                record.timestamp_ms,
                record.seen_ms if record.seen_ms is not None else record.timestamp_ms,
                None,
                record.partition,
                record.offset,
            ),
        ]
        hops.sort(key=_order)
        journey.hops = [
            Hop(
                h.topic,
                h.event_type,
                h.timestamp_ms,
                h.seen_ms,
                _since(hops, i),
                h.partition,
                h.offset,
            )
            for i, h in enumerate(hops)
        ]
        journey.state = _STATE_AFTER.get(journey.hops[-1].event_type, journey.state)
        return journey

    def latest(self, count: int = 12) -> list[Journey]:
        """The bookings that moved most recently, newest first."""
        return list(reversed(self._journeys.values()))[:count]

    def get(self, booking_id: str) -> Journey | None:
        return self._journeys.get(booking_id)


def _since(hops: list[Hop], index: int) -> int | None:
    # Read in one batch, two hops may be seen out of order: never a negative latency.
    return max(0, hops[index].seen_ms - hops[index - 1].seen_ms) if index else None
