"""One Kafka record -> one PutEvents entry, shaped as the Amazon EventBridge Kafka sink connector
shapes it (CONTRACT.md section 5), so that rules written for that connector work unchanged.

Checked against aws/eventbridge-kafka-connector, ``mapping/DefaultEventBridgeMapper.java`` and
``mapping/SinkRecordJsonMapper.java``:

- ``Source`` is ``"kafka-connect." + connector id``; ``DetailType`` defaults to
  ``"kafka-connect-${topic}"``; ``Time`` is only set by an optional time mapper (not by default),
  so EventBridge stamps the event itself; ``EventBusName`` is the configured bus.
- ``Detail`` is a Jackson ``ObjectNode`` rendered with ``toString()`` (compact JSON, non-ASCII
  left as is), fields in the order topic, partition, offset, timestamp, timestampType, headers,
  key, value.
- ``key`` and ``value`` are what the Connect converters produced, re-read as JSON. The README's
  JSON setup is ``key.converter=StringConverter`` and ``value.converter=JsonConverter`` with
  ``schemas.enable=false``: the key becomes a JSON string and the value the parsed JSON document.
  A null key or a tombstone (null value) becomes ``null``. A value that is not JSON cannot be
  converted and the connector reports the record as failed; we raise ``UnmappableRecordError``.
- ``headers`` is an array of one-entry objects ``{name: value}`` in record order (repeated names
  stay repeated). Each value goes through the worker's header converter. The Connect default,
  ``SimpleHeaderConverter``, guesses types from the text (``ce_specversion: "1.0"`` would become
  the number ``1``), which would break CloudEvents attributes; we render header values as
  strings, which is the connector run with ``header.converter=StringConverter``. A null header
  value stays ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE_PREFIX = "kafka-connect."
DEFAULT_DETAIL_TYPE = "kafka-connect-${topic}"
CREATE_TIME = "CreateTime"


class UnmappableRecordError(ValueError):
    """The record cannot become an EventBridge event (its value is not JSON)."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What the consumer read, independent of the Kafka client library."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    headers: Sequence[tuple[str, bytes | None]]
    key: bytes | None
    value: bytes | None


def to_put_events_entry(
    record: KafkaRecord,
    *,
    connector_id: str,
    event_bus_name: str,
    detail_type: str = DEFAULT_DETAIL_TYPE,
    timestamp_type: str = CREATE_TIME,
) -> PutEventsRequestEntryTypeDef:
    """The PutEvents entry for ``record``.

    :param connector_id: suffix of ``Source`` (``kafka-connect.<connector id>``).
    :param event_bus_name: name or ARN of the bus (``care-plan-events``).
    :param detail_type: ``${topic}`` is replaced by the record's topic.
    :param timestamp_type: the record's timestamp type as Kafka names it.
    :raises UnmappableRecordError: when the value is not UTF-8 JSON.
    """
    detail: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "timestampType": timestamp_type,
        "headers": [{name: _text(value)} for name, value in record.headers],
        "key": _text(record.key),
        "value": _json_value(record),
    }
    return {
        "Source": f"{SOURCE_PREFIX}{connector_id}",
        "DetailType": detail_type.replace("${topic}", record.topic),
        "EventBusName": event_bus_name,
        "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
    }


def _text(raw: bytes | None) -> str | None:
    # Java's String(bytes, UTF_8) replaces malformed input instead of failing.
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _json_value(record: KafkaRecord) -> Any:
    if record.value is None or record.value == b"":
        return None
    try:
        return json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnmappableRecordError(
            f"value of {record.topic}[{record.partition}]@{record.offset} is not JSON: {error}"
        ) from error
