"""Records parked in a ``<topic>.dlt``, read back: why they were parked, where they came from,
and which of them an operator selected for a replay or a purge. Pure: no Kafka here.

The headers read are the ones ``eventing.dead_letter`` writes (``dlt-reason``,
``dlt-original-topic``...). A replayed record carries ``dlt-replayed-from`` naming the parked
record it came from, so that a consumer's log, and an operator, can tell a replay apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DLT_HEADER_PREFIX = "dlt-"
REPLAYED_FROM_HEADER = "dlt-replayed-from"
REPLAYED_AT_HEADER = "dlt-replayed-at"


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        """The last value of header ``name`` (a replayed record parked again carries the
        earlier ``dlt-*`` headers too: the newest one is the current story)."""
        found = [value for header, value in self.headers if header == name]
        return found[-1].decode(errors="replace") if found else ""

    @property
    def ref(self) -> str:
        """``<dlt topic>:<partition>:<offset>``: the record's identity in the replay ledger."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return self.header("dlt-reason")

    @property
    def error(self) -> str:
        exception, message = self.header("dlt-exception"), self.header("dlt-exception-message")
        return f"{exception}: {message}" if message else exception

    @property
    def original_topic(self) -> str:
        return self.header("dlt-original-topic")

    @property
    def original_partition(self) -> int | None:
        value = self.header("dlt-original-partition")
        return int(value) if value.lstrip("-").isdigit() else None

    @property
    def original_offset(self) -> str:
        return self.header("dlt-original-offset")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    def parked_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def age(self, now: datetime) -> timedelta:
        return now - self.parked_at()

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had on its own topic: every ``dlt-*`` header dropped."""
        return [(name, value) for name, value in self.headers if not _is_dlt_header(name)]

    def replay_headers(self, replayed_at: datetime) -> list[tuple[str, bytes]]:
        return [
            *self.original_headers(),
            (REPLAYED_FROM_HEADER, self.ref.encode()),
            (REPLAYED_AT_HEADER, replayed_at.isoformat().encode()),
        ]


def _is_dlt_header(name: str) -> bool:
    return name.startswith(DLT_HEADER_PREFIX)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which parked records a replay or a purge takes: all of them, one reason, or an offset
    range (of one partition, or of every partition); the filters combine."""

    reason: str | None = None
    partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None  # inclusive

    def matches(self, record: ParkedRecord) -> bool:
        return (
            (self.reason is None or record.reason == self.reason)
            and (self.partition is None or record.partition == self.partition)
            and (self.from_offset is None or record.offset >= self.from_offset)
            and (self.to_offset is None or record.offset <= self.to_offset)
        )


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    to_replay: tuple[ParkedRecord, ...]
    already_replayed: tuple[ParkedRecord, ...]
    unreplayable: tuple[ParkedRecord, ...]  # no original topic or partition to go back to


def plan_replay(
    records: Iterable[ParkedRecord], selection: Selection, replayed: set[str]
) -> ReplayPlan:
    """The selected records not replayed before (``replayed`` holds ledger refs)."""
    to_replay: list[ParkedRecord] = []
    done: list[ParkedRecord] = []
    unreplayable: list[ParkedRecord] = []
    for record in records:
        if not selection.matches(record):
            continue
        if record.ref in replayed:
            done.append(record)
        elif not record.original_topic or record.original_partition is None:
            unreplayable.append(record)
        else:
            to_replay.append(record)
    return ReplayPlan(tuple(to_replay), tuple(done), tuple(unreplayable))


def purge_offsets(
    records: Sequence[ParkedRecord], ends: dict[int, int], *, replayed: set[str] | None
) -> dict[int, int]:
    """Per partition, the offset before which records may be deleted (Kafka deletes a prefix).

    With ``replayed`` None: everything up to the end. Otherwise only the prefix of records
    that were all replayed, so that a purge never drops a record nobody has replayed yet.
    """
    if replayed is None:
        return dict(ends)
    limits = dict(ends)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.ref not in replayed and record.offset < limits.get(record.partition, 0):
            limits[record.partition] = record.offset
    return limits
