"""The trace context inside an EventBridge event shaped by the Kafka sink connector: its
``detail.headers`` are the Kafka record's headers, ``traceparent`` among them, so a function
behind the bus (through SQS) continues the trace of the record that became the event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from telemetry.tracing import TRACEPARENT


def traceparent_in_event(event: Mapping[str, Any]) -> str | None:
    """``traceparent`` from ``detail.headers`` (``[{name: value}, ...]``), or None."""
    detail = event.get("detail")
    headers = detail.get("headers") if isinstance(detail, Mapping) else None
    if not isinstance(headers, list):
        return None
    for header in headers:
        if isinstance(header, str):
            # An input transformer that copies the array as moto does renders each entry as
            # JSON text; EventBridge itself inserts the objects.
            header = _object_or_none(header)
        if isinstance(header, Mapping) and isinstance(value := header.get(TRACEPARENT), str):
            return value
    return None


def _object_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def traceparent_in_body(body: str) -> str | None:
    """The same, from an SQS message body holding the EventBridge event as JSON."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return traceparent_in_event(event) if isinstance(event, Mapping) else None
