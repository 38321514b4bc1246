"""The Quix Streams wiring: ``careplan.bookings`` -> ``careplan.bookings.insured`` (or the DLT).

One stateful step per record decides where it goes:

- not a CloudEvent, or data that does not fit the contract -> ``<input>.dlt`` with the
  original key, value and headers plus ``dlt-*`` headers saying why, and processing goes on;
- a covered ``BOOKING_CONFIRMED`` or ``BOOKING_CANCELLED`` seen for the first time -> the
  insured topic, in binary mode, with an id derived from the input's id;
- anything else (not covered, another type, a duplicate) -> nothing.

Exactly-once: the outputs, the dedup state's changelog and the input offsets are committed in
one Kafka transaction, so a restart neither loses nor repeats a record, and a parked record
is parked once. Duplicates that reach the input twice (a relay re-publishing after a crash)
are dropped with state: the booking id and event type of every emitted event are remembered
(under the record key, in RocksDB backed by a changelog topic) for ``dedup_ttl``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from confluent_kafka.admin import AdminClient
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from quixstreams import Application, message_context
from quixstreams.kafka import ConnectionConfig
from quixstreams.models import Topic
from quixstreams.state import State

from contract.sources import INSURANCE_PROCESSOR
from eventing.consumer_types import RecordContext
from eventing.dead_letter import DeadLetterReason, dead_letter_headers
from eventing.membership import fast_resume_config, transactional_config
from eventing.redaction import describe_error
from eventing.settings import RECONNECT_CONFIG
from insurance_processor.metrics import Outcome, ProcessorMetrics
from insurance_processor.serialization import (
    CloudEvent,
    CloudEventDeserializer,
    MalformedEventError,
    MalformedRecord,
    RecordValueSerializer,
    binary_headers,
    read_booking_event,
)
from insurance_processor.settings import ProcessorSettings
from insurance_processor.transforms import INSURED_EVENT_TYPES, dedup_key, insure, insured_event_id
from telemetry import Tracing

logger = logging.getLogger(__name__)

MessageProcessedCallback = Callable[[str, int, int], None]


class Destination(StrEnum):
    INSURED = "insured"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    destination: Destination
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, str | bytes]]


class BookingRouter:
    """The processing step: one input record in, at most one output record out."""

    def __init__(
        self,
        *,
        consumer_group: str,
        dedup_ttl: timedelta,
        metrics: ProcessorMetrics,
        tracing: Tracing | None = None,
    ) -> None:
        """:param tracing: on, each booking event is routed in a span, child of the record's
        ``traceparent``; the insured record carries that span's traceparent."""
        self._consumer_group = consumer_group
        self._dedup_ttl = dedup_ttl
        self._metrics = metrics
        self._tracing = tracing or Tracing()

    def __call__(
        self,
        value: CloudEvent | MalformedRecord | None,
        key: bytes | None,
        timestamp: int,
        headers: Any,
        state: State[Any, Any],
    ) -> OutgoingRecord | None:
        if not isinstance(value, CloudEvent):
            if value is None:
                # Quix hands on a null value without calling the deserializer.
                value = MalformedRecord(None, MalformedEventError("the record has no value"))
            return self._park(value.value, key, timestamp, headers, value.error)
        if value.type not in INSURED_EVENT_TYPES:
            self._metrics.count(Outcome.OTHER_TYPE)
            return None
        if not self._tracing.enabled:
            return self._route(value, key, timestamp, headers, state, value.traceparent)
        with self._tracing.span(
            f"insure {value.type}",
            parent=value.traceparent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.message.id": value.id,
                "messaging.consumer.group.name": self._consumer_group,
            },
        ) as traceparent:
            return self._route(value, key, timestamp, headers, state, traceparent)

    def _route(
        self,
        value: CloudEvent,
        key: bytes | None,
        timestamp: int,
        headers: Any,
        state: State[Any, Any],
        traceparent: str | None,
    ) -> OutgoingRecord | None:
        try:
            booking = read_booking_event(value)
            insured = insure(value.type, booking)
            if insured is None:
                self._metrics.count(Outcome.NOT_INSURED)
                return None
            record = OutgoingRecord(
                destination=Destination.INSURED,
                key=str(insured.booking.id).encode(),
                value=insured.model_dump_json(by_alias=True).encode(),
                headers=binary_headers(
                    id=insured_event_id(value.id),
                    source=INSURANCE_PROCESSOR,
                    type=value.type,
                    time=value.time,
                    subject=value.subject,
                    traceparent=traceparent,
                ),
            )
        except ValidationError as error:
            return self._park(value.record_value, key, timestamp, headers, error, value.id)
        except Exception as error:
            # Deterministic code on the record's own bytes: running it again cannot succeed.
            logger.exception("could not route a booking event", extra={"ce_id": value.id})
            return self._park(
                value.record_value,
                key,
                timestamp,
                headers,
                error,
                value.id,
                reason=DeadLetterReason.PERMANENT_FAILURE,
            )
        # Bytes in and out: Quix would JSON-encode any other state key or value.
        seen = dedup_key(value.type, booking).encode()
        if state.exists(seen):
            self._metrics.count(Outcome.DUPLICATE)
            logger.debug("dropped a duplicate", extra={"ce_id": value.id, "dedup_key": seen})
            return None
        state.set_bytes(seen, value.id.encode(), ttl=self._dedup_ttl)
        self._metrics.count(Outcome.INSURED)
        return record

    def _park(
        self,
        value: bytes | None,
        key: bytes | None,
        timestamp: int,
        headers: Any,
        error: Exception,
        ce_id: str | None = None,
        *,
        reason: DeadLetterReason = DeadLetterReason.MALFORMED,
    ) -> OutgoingRecord:
        context = message_context()
        record = RecordContext(
            topic=context.topic,
            partition=context.partition,
            offset=context.offset,
            timestamp=timestamp,
            key=key,
            value=value,
            headers=list(headers or ()),
        )
        self._metrics.count_parked(reason)
        logger.warning(
            "parked a record in the dead-letter topic",
            extra={
                "ce_id": ce_id,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason.value,
                "error": describe_error(error),
            },
        )
        return OutgoingRecord(
            destination=Destination.DEAD_LETTER,
            key=key,
            value=value,
            headers=dead_letter_headers(
                record,
                reason=reason,
                error=error,
                attempts=1,
                consumer_group=self._consumer_group,
            ),
        )


# On every assignment Quix asks the broker for the watermarks of each input and changelog
# partition, one partition at a time, on the connection where the consumer's fetch of the
# assigned partitions is waiting for data: the broker answers requests of one connection in
# order, so each query waited out librdkafka's default fetch.wait.max.ms (500 ms): 12 queries,
# 5.5 s of a restart (bench/service_restart.py, py-spy). A 50 ms wait cuts them to 0.6 s; the
# price is an idle consumer fetching 20 times a second instead of twice (+0.1 % CPU for the
# client, +0.5 % for the broker, measured); records still arrive as soon as they are written.
ASSIGNMENT_QUERY_CONFIG = {"fetch.wait.max.ms": "50"}


class MissingTopicError(RuntimeError):
    """A topic the processor reads or writes does not exist: it refuses to start."""


def require_topics(client_config: dict[str, str], names: list[str], timeout: float = 10) -> None:
    """Fail at start if a contract topic is missing rather than let Quix create it with its
    own defaults (one partition): the platform creates them from ``contract.topics``."""
    admin = AdminClient({**client_config, "log_level": 0})
    existing = admin.list_topics(timeout=timeout).topics
    missing = [name for name in names if name not in existing]
    if missing:
        raise MissingTopicError(
            f"topics {', '.join(missing)} do not exist; `careplan up` (or the deployment's "
            "topic manifests) creates them"
        )


def build_application(
    settings: ProcessorSettings,
    *,
    metrics: ProcessorMetrics | None = None,
    on_message_processed: MessageProcessedCallback | None = None,
    tracing: Tracing | None = None,
) -> Application:
    client_config = settings.kafka.client_config()
    require_topics(
        client_config, [settings.input_topic, settings.output_topic, settings.dead_letter_topic]
    )
    app = Application(
        # Quix takes only connection settings here; the rest goes to its clients below.
        broker_address=ConnectionConfig.from_librdkafka_dict(client_config, ignore_extras=True),
        consumer_group=settings.consumer_group,
        processing_guarantee="exactly-once",
        state_dir=settings.state_dir,
        # A new consumer group reads the topic from its start: no booking is skipped.
        auto_offset_reset="earliest",
        commit_interval=settings.commit_interval_seconds,
        # Quix creates its changelog topic through the Admin API (the broker refuses
        # auto-creation), with the input's partitions, replication and retention.
        auto_create_topics=True,
        # Our JSON logging on the root logger formats the quixstreams logger too.
        loglevel=None,
        on_message_processed=on_message_processed,
        # A restarted replica rejoins as the same static member and resumes at once instead
        # of waiting for its dead predecessor's session to expire.
        consumer_extra_config={
            **RECONNECT_CONFIG,
            **fast_resume_config(settings.consumer_group),
            **ASSIGNMENT_QUERY_CONFIG,
        },
        # ... and its producer takes over the dead one's transactional id, which aborts the
        # transaction it left open instead of blocking the group's offsets until it times out.
        producer_extra_config={**RECONNECT_CONFIG, **transactional_config(settings.consumer_group)},
    )
    bookings = app.topic(
        settings.input_topic,
        key_deserializer="bytes",
        value_deserializer=CloudEventDeserializer(),
    )
    destinations: dict[Destination, Topic] = {
        Destination.INSURED: app.topic(
            settings.output_topic, key_serializer="bytes", value_serializer=RecordValueSerializer()
        ),
        Destination.DEAD_LETTER: app.topic(
            settings.dead_letter_topic,
            key_serializer="bytes",
            value_serializer=RecordValueSerializer(),
        ),
    }
    router = BookingRouter(
        consumer_group=settings.consumer_group,
        dedup_ttl=settings.dedup_ttl,
        metrics=metrics if metrics is not None else ProcessorMetrics(),
        tracing=tracing,
    )
    sdf = app.dataframe(bookings)
    sdf = sdf.apply(router, stateful=True, metadata=True)
    sdf = sdf.filter(_is_record)
    sdf = sdf.set_headers(_record_headers)
    sdf.to_topic(
        lambda record, _key, _timestamp, _headers: destinations[record.destination],
        key=_record_key,
    )
    return app


def _is_record(value: OutgoingRecord | None) -> bool:
    return value is not None


def _record_headers(
    record: OutgoingRecord, _key: Any, _timestamp: int, _headers: Any
) -> Sequence[tuple[str, str | bytes]]:
    return record.headers


def _record_key(record: OutgoingRecord) -> bytes | None:
    return record.key
