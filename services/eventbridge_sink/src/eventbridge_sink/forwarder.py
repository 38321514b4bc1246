"""Puts a poll's worth of records on the bus: batching, per-entry retries, and the verdict on
each record (accepted, or to be parked in the dead-letter topic).

Two kinds of failure are told apart:
- a whole PutEvents call that fails (endpoint unreachable, throttled) says nothing about the
  records: it is retried with backoff until it goes through, and nothing is committed meanwhile;
- an entry that EventBridge rejects (``ErrorCode`` in the response) is retried a few times and
  then parked, so one bad event cannot hold the partition forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from eventbridge_sink.batching import batch_by_size, entry_size, is_oversized
from eventbridge_sink.call_health import CallHealth
from eventbridge_sink.mapping import KafkaRecord, UnmappableRecordError, to_put_events_entry
from telemetry import Tracing
from telemetry.tracing import TRACEPARENT

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

logger = logging.getLogger(__name__)

PutEvents = Callable[[list["PutEventsRequestEntryTypeDef"]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Rejected:
    record: KafkaRecord
    reason: str  # "malformed" | "retries-exhausted"
    error: str
    attempts: int


@dataclass(slots=True)
class Verdict:
    accepted: list[KafkaRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ForwarderOptions:
    connector_id: str
    event_bus_name: str
    entry_attempts: int = 4
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    # PutEvents calls of one poll in flight at once (10 entries each, the AWS limit). A poll's
    # records carry no order EventBridge would keep anyway: targets get them in any order, and
    # the functions behind the queues are written for that. Parallel calls hide each call's
    # round trip; locally they let moto's threads overlap their I/O.
    parallel_requests: int = 4

    def backoff(self, attempt: int) -> float:
        return float(
            min(self.max_backoff_seconds, self.initial_backoff_seconds * 2 ** (attempt - 1))
        )


class Forwarder:
    def __init__(
        self,
        put_events: PutEvents,
        options: ForwarderOptions,
        health: CallHealth | None = None,
        *,
        tracing: Tracing | None = None,
    ) -> None:
        """:param tracing: on, a poll's forwarding is a span linked to its records, and each
        record a span of its own trace whose traceparent the event's ``detail.headers``
        carry, so the functions behind the bus continue the trace."""
        self._put_events = put_events
        self._options = options
        self._health = health or CallHealth(unready_after_seconds=float("inf"))
        self._in_flight = asyncio.Semaphore(options.parallel_requests)
        self._tracing = tracing or Tracing()

    async def forward(self, records: Sequence[KafkaRecord]) -> Verdict:
        if not self._tracing.enabled:
            return await self._forward(records)
        with self._tracing.span(
            "forward to EventBridge",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.batch.message_count": len(records)},
            links=[_traceparent(record) for record in records],
        ):
            return await self._forward([self._traced(record) for record in records])

    def _traced(self, record: KafkaRecord) -> KafkaRecord:
        with self._tracing.span(
            f"send {record.topic} to EventBridge",
            parent=_traceparent(record),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.offset": record.offset,
            },
        ) as traceparent:
            if traceparent is None:
                return record
            headers = [(n, v) for n, v in record.headers if n != TRACEPARENT]
            return replace(record, headers=[*headers, (TRACEPARENT, traceparent.encode())])

    async def _forward(self, records: Sequence[KafkaRecord]) -> Verdict:
        verdict = Verdict()
        pending: list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef]] = []
        for record in records:
            try:
                entry = to_put_events_entry(
                    record,
                    connector_id=self._options.connector_id,
                    event_bus_name=self._options.event_bus_name,
                )
            except UnmappableRecordError as error:
                verdict.rejected.append(Rejected(record, "malformed", str(error), 0))
                continue
            if is_oversized(entry):
                verdict.rejected.append(
                    Rejected(record, "malformed", f"{entry_size(entry)} bytes is over the limit", 0)
                )
                continue
            pending.append((record, entry))

        attempt = 0
        while pending:
            attempt += 1
            failed: list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef, str]] = []
            batches = batch_by_size(pending, size_of=lambda pair: entry_size(pair[1]))
            for batch_failures in await asyncio.gather(*map(self._put_bounded, batches)):
                failed.extend(batch_failures)
            accepted = {id(record) for record, _ in pending} - {id(r) for r, _, _ in failed}
            verdict.accepted.extend(record for record, _ in pending if id(record) in accepted)
            if not failed:
                break
            if attempt >= self._options.entry_attempts:
                verdict.rejected.extend(
                    Rejected(r, "retries-exhausted", error, attempt) for r, _, error in failed
                )
                break
            logger.warning(
                "entries rejected by EventBridge, retrying",
                extra={"count": len(failed), "attempt": attempt},
            )
            await asyncio.sleep(self._options.backoff(attempt))
            pending = [(record, entry) for record, entry, _ in failed]
        verdict.accepted.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return verdict

    async def _put_bounded(
        self, batch: list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef]]
    ) -> list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef, str]]:
        async with self._in_flight:
            return await self._put_batch(batch)

    async def _put_batch(
        self, batch: list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef]]
    ) -> list[tuple[KafkaRecord, PutEventsRequestEntryTypeDef, str]]:
        call_attempt = 0
        while True:
            call_attempt += 1
            try:
                response = await self._put_events([entry for _, entry in batch])
                self._health.succeeded()
                break
            except Exception as error:
                self._health.failed(error)
                delay = self._options.backoff(min(call_attempt, 8))
                logger.warning(
                    "PutEvents call failed, retrying", extra={"error": repr(error), "delay": delay}
                )
                await asyncio.sleep(delay)
        results = response.get("Entries", [])
        failed = []
        for (record, entry), result in zip(batch, results, strict=False):
            if result.get("ErrorCode"):
                failed.append(
                    (record, entry, f"{result.get('ErrorCode')}: {result.get('ErrorMessage', '')}")
                )
        if len(results) < len(batch):
            failed.extend(
                (record, entry, "no result for entry") for record, entry in batch[len(results) :]
            )
        return failed


def _traceparent(record: KafkaRecord) -> str | None:
    value = next((v for n, v in record.headers if n == TRACEPARENT), None)
    return value.decode(errors="replace") if value else None
