"""The AsyncAPI 3.0 document of every topic, channel, message and payload, generated from the
payload models, so that it cannot drift from the code.

    python -m contract.asyncapi docs/asyncapi.json          # (re)write it
    python -m contract.asyncapi --check docs/asyncapi.json  # exit 1 if it is not current
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract import sources, topics
from contract.events import EventType
from contract.schemas import TOPIC_PAYLOADS

KAFKA_BINDING_VERSION = "0.5.0"
_REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Channel:
    topic: str
    key: str
    event_types: tuple[EventType, ...]
    producer: str
    consumers: tuple[str, ...]
    description: str


CHANNELS: tuple[Channel, ...] = (
    Channel(
        topics.PROVIDER_AVAILABILITY,
        "availability id",
        (
            EventType.AVAILABILITY_CREATED,
            EventType.AVAILABILITY_UPDATED,
            EventType.AVAILABILITY_DELETED,
        ),
        "provider-schedule",
        ("care-plan",),
        "Every change of an availability, with the provider's data inside (event-carried "
        "state transfer). Compacted: the newest event per availability is kept forever.",
    ),
    Channel(
        topics.BOOKING_REQUESTS,
        "availability id",
        (EventType.BOOKING_CREATION_REQUEST, EventType.BOOKING_CANCELLATION_REQUEST),
        "care-plan",
        ("provider-schedule",),
        "Commands from Care Plan to Provider Schedule: hold or free a slot for a booking.",
    ),
    Channel(
        topics.BOOKING_REPLIES,
        "booking id",
        (EventType.BOOKING_REQUEST_CONFIRMED, EventType.BOOKING_REQUEST_REJECTED),
        "provider-schedule",
        ("care-plan",),
        "Provider Schedule's answer to a booking creation request.",
    ),
    Channel(
        topics.CAREPLAN_BOOKINGS,
        "booking id",
        (
            EventType.BOOKING_CONFIRMED,
            EventType.BOOKING_CANCELLED,
            EventType.BOOKING_REJECTED,
            EventType.BOOKING_EXPIRED,
        ),
        "care-plan",
        ("insurance-processor", "eventbridge-sink"),
        "What happened to a booking, with the patient snapshot, encounter type and slot.",
    ),
    Channel(
        topics.CAREPLAN_BOOKINGS_INSURED,
        "booking id",
        (EventType.BOOKING_CONFIRMED, EventType.BOOKING_CANCELLED),
        "insurance-processor",
        ("eventbridge-sink",),
        "The bookings covered by the patient's insurance, with the coverage decision.",
    ),
)

_SOURCES = {
    "provider-schedule": sources.PROVIDER_SCHEDULE,
    "care-plan": sources.CARE_PLAN,
    "insurance-processor": sources.INSURANCE_PROCESSOR,
}


def _channel_id(topic: str) -> str:
    head, *rest = re.split(r"[.\-]", topic)
    return head + "".join(part.capitalize() for part in rest)


def _message_id(channel: Channel, event_type: EventType) -> str:
    return f"{_channel_id(channel.topic)}.{event_type.value}"


def _cloudevent_headers(source: str, event_type: EventType) -> dict[str, Any]:
    """The binary-mode CloudEvents headers, named as the Java SDK writes them."""
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {
                "type": "string",
                "description": "Unique per event, stable across "
                "re-publication: the deduplication key.",
            },
            "ce_source": {"type": "string", "const": source},
            "ce_type": {"type": "string", "const": event_type.value},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": {"type": "string"},
            "content-type": {"type": "string", "const": "application/json"},
            "traceparent": {"type": "string", "description": "W3C trace context"},
        },
    }


def _payload_schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """Model name per topic, and every schema hoisted into components/schemas."""
    names: dict[str, str] = {}
    schemas: dict[str, Any] = {}
    for topic, model in TOPIC_PAYLOADS.items():
        names[topic] = model.__name__
        schemas.update(_hoisted(model))
    return names, schemas


def _hoisted(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(
        by_alias=True, mode="serialization", ref_template=_REF_TEMPLATE
    )
    definitions = schema.pop("$defs", {})
    return {model.__name__: schema, **definitions}


def build_document() -> dict[str, Any]:
    model_names, schemas = _payload_schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel in CHANNELS:
        channel_id = _channel_id(channel.topic)
        refs = {}
        for event_type in channel.event_types:
            message_id = _message_id(channel, event_type)
            messages[message_id] = {
                "name": event_type.value,
                "title": event_type.value.replace("_", " ").capitalize(),
                "contentType": "application/json",
                "headers": _cloudevent_headers(_SOURCES[channel.producer], event_type),
                "payload": {"$ref": _REF_TEMPLATE.format(model=model_names[channel.topic])},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": channel.key},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
            refs[event_type.value] = {"$ref": f"#/components/messages/{message_id}"}
        compacted = channel.topic == topics.PROVIDER_AVAILABILITY
        channels[channel_id] = {
            "address": channel.topic,
            "description": channel.description,
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": channel.topic,
                    "topicConfiguration": {
                        "cleanup.policy": ["compact" if compacted else "delete"]
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        message_refs = [
            {"$ref": f"#/channels/{channel_id}/messages/{t.value}"} for t in channel.event_types
        ]
        operations[f"{_camel(channel.producer)}Sends{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{channel.producer} publishes to {channel.topic} (through its outbox)",
            "messages": message_refs,
        }
        for consumer in channel.consumers:
            operations[f"{_camel(consumer)}Receives{channel_id[0].upper()}{channel_id[1:]}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{consumer} consumes {channel.topic} (idempotently; poison records "
                f"go to {topics.dead_letter_topic(channel.topic)})",
                "messages": message_refs,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Managed Care Plan events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 in Kafka binary content mode (CONTRACT.md). "
            "Generated by `python -m contract.asyncapi` from libs/contract.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "`careplan up` (single-node KRaft broker)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part.capitalize() for part in rest)


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args(argv)
    content = render(build_document())
    if args.check:
        current = args.path.exists() and args.path.read_text(encoding="utf-8") == content
        if not current:
            print(
                f"{args.path} is stale: run python -m contract.asyncapi {args.path}",
                file=sys.stderr,
            )
        return 0 if current else 1
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
