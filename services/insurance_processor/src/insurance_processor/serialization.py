"""CloudEvents over Kafka for the processor (CONTRACT.md section 1).

Read: binary content mode (``ce_*`` headers, the value is the data) and structured mode
(``content-type: application/cloudevents+json``, the whole event in the value). Written:
binary mode, header names byte-for-byte as the Java SDK writes them.

This is the same mapping as ``eventing.cloudevents``, kept lean on purpose: it runs for every
record in the processor's single-threaded loop, and it leaves the data undecoded in binary
mode so that pydantic parses it straight from bytes, and only for the types routed here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quixstreams.models import Deserializer, SerializationContext, Serializer

from contract.events import BookingEvent

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE_PREFIX = "application/cloudevents"
TRACEPARENT_HEADER = "traceparent"
_CE_PREFIX = "ce_"
_READ_HEADERS = frozenset({"content-type", TRACEPARENT_HEADER})

HeaderValue = str | bytes | None
Headers = Sequence[tuple[str, HeaderValue]] | Mapping[str, HeaderValue]


class MalformedEventError(ValueError):
    """A record that is not a CloudEvent we can read: reprocessing it can never succeed."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: str
    source: str
    type: str
    # Binary mode: the record value, undecoded. Structured mode: the decoded ``data``.
    data: bytes | dict[str, Any]
    time: str | None = None
    subject: str | None = None
    traceparent: str | None = None
    # The record value as received, kept byte-for-byte for the dead-letter topic.
    record_value: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MalformedRecord:
    """What the deserializer hands on instead of raising, so the record can be parked."""

    value: bytes | None
    error: MalformedEventError


def read_cloud_event(value: bytes | None, headers: Headers | None) -> CloudEvent:
    """A record in binary or structured mode; MalformedEventError if it is neither."""
    attributes = _header_map(headers)
    content_type = attributes.get("content-type")
    if content_type is not None and content_type.startswith(STRUCTURED_CONTENT_TYPE_PREFIX):
        return _read_structured(value)
    if any(name.startswith(_CE_PREFIX) for name in attributes):
        return _read_binary(value, attributes, content_type)
    return _read_structured(value)


def read_booking_event(event: CloudEvent) -> BookingEvent:
    """The payload of a booking event; pydantic's ValidationError if it does not fit."""
    if isinstance(event.data, bytes):
        return BookingEvent.model_validate_json(event.data)
    return BookingEvent.model_validate(event.data)


def binary_headers(
    *,
    id: str,
    source: str,
    type: str,
    time: str | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
) -> list[tuple[str, bytes]]:
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", type.encode()),
    ]
    if time is not None:
        headers.append(("ce_time", time.encode()))
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    headers.append(("content-type", JSON_CONTENT_TYPE.encode()))
    if traceparent is not None:
        headers.append((TRACEPARENT_HEADER, traceparent.encode()))
    return headers


class CloudEventDeserializer(Deserializer):
    """Quix value deserializer: a CloudEvent, or a MalformedRecord; it never raises.

    A raising deserializer would leave the record to the consumer error callback, outside the
    exactly-once transaction; handing it on lets the dataframe park it in the dead-letter topic
    in the same transaction as the offset commit, so it is parked exactly once.
    """

    def __init__(self) -> None:
        """Deliberately skips the base ``__init__``: it is untyped and does nothing."""

    def __call__(self, value: bytes, ctx: SerializationContext) -> CloudEvent | MalformedRecord:
        try:
            return read_cloud_event(value, ctx.headers)
        except MalformedEventError as error:
            return MalformedRecord(value=value, error=error)


class RecordValueSerializer(Serializer):
    """Quix value serializer for values that the processing step already turned into bytes."""

    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        encoded: bytes = value.value
        return encoded


def _header_map(headers: Headers | None) -> dict[str, str]:
    """Header names lower-cased (the SDKs match them case-insensitively), values decoded."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    with contextlib.suppress(UnicodeDecodeError):
        return {
            name.lower(): raw.decode() if isinstance(raw, bytes) else raw
            for name, raw in pairs
            if raw is not None
        }
    # Slow path: a header that is not UTF-8 spoils the record only if it is one we read.
    attributes: dict[str, str] = {}
    for name, raw in pairs:
        lowered = name.lower()
        if raw is None:
            continue
        if isinstance(raw, str):
            attributes[lowered] = raw
            continue
        try:
            attributes[lowered] = raw.decode()
        except UnicodeDecodeError as error:
            if lowered.startswith(_CE_PREFIX) or lowered in _READ_HEADERS:
                raise MalformedEventError(f"header {name} is not UTF-8") from error
    return attributes


def _read_binary(
    value: bytes | None, attributes: dict[str, str], content_type: str | None
) -> CloudEvent:
    specversion = attributes.get("ce_specversion")
    if specversion != SPEC_VERSION:
        raise MalformedEventError(f"ce_specversion is {specversion!r}, expected {SPEC_VERSION!r}")
    if content_type is not None and not _is_json(content_type):
        raise MalformedEventError(f"content-type {content_type!r} is not JSON")
    if value is None:
        raise MalformedEventError("the record has no value")
    return CloudEvent(
        id=_required(attributes.get("ce_id"), "ce_id"),
        source=_required(attributes.get("ce_source"), "ce_source"),
        type=_required(attributes.get("ce_type"), "ce_type"),
        data=value,
        time=attributes.get("ce_time"),
        subject=attributes.get("ce_subject"),
        traceparent=attributes.get(TRACEPARENT_HEADER),
        record_value=value,
    )


def _read_structured(value: bytes | None) -> CloudEvent:
    if value is None:
        raise MalformedEventError("the record has no value and no ce_* headers")
    try:
        envelope = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEventError(f"not a CloudEvent: the value is not JSON ({error})") from error
    if not isinstance(envelope, dict):
        raise MalformedEventError("not a CloudEvent: the value is not a JSON object")
    specversion = envelope.get("specversion")
    if specversion != SPEC_VERSION:
        raise MalformedEventError(f"specversion is {specversion!r}, expected {SPEC_VERSION!r}")
    data_content_type = envelope.get("datacontenttype")
    if data_content_type is not None and not _is_json(str(data_content_type)):
        raise MalformedEventError(f"datacontenttype {data_content_type!r} is not JSON")
    return CloudEvent(
        id=_required(envelope.get("id"), "id"),
        source=_required(envelope.get("source"), "source"),
        type=_required(envelope.get("type"), "type"),
        data=_structured_data(envelope),
        time=_optional_str(envelope, "time"),
        subject=_optional_str(envelope, "subject"),
        traceparent=_optional_str(envelope, TRACEPARENT_HEADER),
        record_value=value,
    )


def _structured_data(envelope: dict[str, Any]) -> dict[str, Any]:
    if "data_base64" in envelope:
        try:
            data = json.loads(base64.b64decode(envelope["data_base64"], validate=True))
        except (ValueError, TypeError, binascii.Error) as error:
            raise MalformedEventError(f"data_base64 is not base64 JSON ({error})") from error
    else:
        data = envelope.get("data")
    if not isinstance(data, dict):
        raise MalformedEventError("the event data is not a JSON object")
    return data


def _required(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"the required attribute {name} is missing or empty")
    return value


def _optional_str(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return value if isinstance(value, str) else None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON_CONTENT_TYPE or media_type.endswith("+json")
