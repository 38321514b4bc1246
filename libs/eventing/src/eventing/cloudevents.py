"""CloudEvents 1.0 over Kafka, as the Java SDK's ``CloudEventSerializer`` writes them.

Binary content mode is written: the record value is the event data as UTF-8 JSON, the
attributes are ``ce_*`` headers plus ``content-type``. Binary and structured mode are read.
The header mapping itself is the CloudEvents SDK's Kafka binding; this module adds the
record key, ``traceparent`` and the checks our consumers rely on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

JSON_CONTENT_TYPE = "application/json"
TRACEPARENT_HEADER = "traceparent"
_FORMAT = JSONFormat()
# The SDK turns the record key into this extension attribute; the key is kept separately.
_PARTITION_KEY_ATTRIBUTE = "partitionkey"

Headers = Sequence[tuple[str, bytes | None]]


class MalformedEventError(ValueError):
    """A record that is not a CloudEvent we can read: retrying it can never succeed."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    source: str
    type: str
    data: dict[str, Any]
    key: str | None = None
    subject: str | None = None
    time: datetime | None = None
    traceparent: str | None = None

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        data: dict[str, Any],
        key: str | None,
        subject: str | None = None,
        traceparent: str | None = None,
    ) -> Event:
        return cls(
            id=str(uuid.uuid4()),
            source=source,
            type=type,
            data=data,
            key=key,
            subject=subject,
            time=datetime.now(UTC),
            traceparent=traceparent,
        )


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def to_record(event: Event) -> KafkaRecord:
    """Binary content mode, header names byte-for-byte as the Java SDK writes them."""
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "datacontenttype": JSON_CONTENT_TYPE,
    }
    if event.time is not None:
        attributes["time"] = event.time
    if event.subject is not None:
        attributes["subject"] = event.subject
    message = to_binary(CloudEvent(attributes=attributes, data=event.data), _FORMAT)
    headers = list(message.headers.items())
    if event.traceparent:
        headers.append((TRACEPARENT_HEADER, event.traceparent.encode()))
    return KafkaRecord(
        key=event.key.encode() if event.key is not None else None,
        value=json.dumps(event.data, separators=(",", ":")).encode(),
        headers=headers,
    )


def from_record(key: bytes | None, value: bytes | None, headers: Headers | None) -> Event:
    """Read a record in binary or structured mode; raise MalformedEventError if it is not one."""
    header_map = {name.lower(): raw for name, raw in (headers or []) if raw is not None}
    try:
        cloud_event = from_kafka(
            KafkaMessage(headers=header_map, key=None, value=value or b""), _FORMAT
        )
    except (BaseCloudEventException, ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise MalformedEventError(f"not a CloudEvent: {error}") from error
    data = cloud_event.get_data()
    if not isinstance(data, dict):
        raise MalformedEventError("event data is not a JSON object")
    traceparent = header_map.get(TRACEPARENT_HEADER)
    extensions = cloud_event.get_attributes()
    return Event(
        id=cloud_event.get_id(),
        source=cloud_event.get_source(),
        type=cloud_event.get_type(),
        data=data,
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        subject=cloud_event.get_subject(),
        time=cloud_event.get_time(),
        traceparent=traceparent.decode() if traceparent else extensions.get(TRACEPARENT_HEADER),
    )
