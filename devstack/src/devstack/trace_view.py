"""`careplan trace <bookingId>`: a booking's trace, read back from Jaeger, as a span tree.

Jaeger's query API (``/api/traces``) finds the trace by the ``booking.id`` attribute the
services put on their spans; the tree follows parent/child references and, where one batch
served many bookings, span links (shown with ``↪``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.tree import Tree

BOOKING_ATTRIBUTE = "booking.id"
# Every trace of a booking starts at Care Plan's POST; the search asks that service.
ENTRY_SERVICE = "care-plan"


class TraceNotFoundError(LookupError):
    pass


@dataclass
class SpanNode:
    span_id: str
    service: str
    operation: str
    start_us: int
    duration_us: int
    parent_id: str | None
    # CHILD_OF a span in another trace, or FOLLOWS_FROM: drawn as a link, not a parent.
    linked: bool = False
    error: bool = False
    children: list[SpanNode] = field(default_factory=list)


def find_trace_ids(
    client: httpx.Client, booking_id: str, *, lookback: str = "2h", limit: int = 20
) -> list[str]:
    """The ids of the traces whose spans carry ``booking.id = booking_id``, newest first."""
    response = client.get(
        "/api/traces",
        params={
            "service": ENTRY_SERVICE,
            "tags": json.dumps({BOOKING_ATTRIBUTE: booking_id}),
            "lookback": lookback,
            "limit": str(limit),
        },
    )
    response.raise_for_status()
    traces = response.json().get("data") or []
    traces.sort(key=lambda t: min(s["startTime"] for s in t["spans"]), reverse=True)
    return [str(t["traceID"]) for t in traces]


def fetch_trace(client: httpx.Client, trace_id: str) -> dict[str, Any]:
    response = client.get(f"/api/traces/{trace_id}")
    response.raise_for_status()
    data = response.json().get("data") or []
    if not data:
        raise TraceNotFoundError(trace_id)
    trace: dict[str, Any] = data[0]
    return trace


def _tag(span: Mapping[str, Any], key: str) -> Any:
    return next((t.get("value") for t in span.get("tags", []) if t.get("key") == key), None)


def span_tree(trace: Mapping[str, Any]) -> list[SpanNode]:
    """The trace's spans as trees: roots (no parent in this trace) first by start time."""
    processes: Mapping[str, Any] = trace.get("processes", {})
    nodes: dict[str, SpanNode] = {}
    for span in trace["spans"]:
        references: Sequence[Mapping[str, Any]] = span.get("references") or []
        in_trace = [r for r in references if r.get("traceID") == span["traceID"]]
        parent = next((r for r in in_trace if r.get("refType") == "CHILD_OF"), None)
        link = parent or next(iter(in_trace), None)
        nodes[span["spanID"]] = SpanNode(
            span_id=span["spanID"],
            service=processes.get(span.get("processID", ""), {}).get("serviceName", "?"),
            operation=span["operationName"],
            start_us=int(span["startTime"]),
            duration_us=int(span["duration"]),
            parent_id=link["spanID"] if link else None,
            linked=parent is None and link is not None,
            error=_tag(span, "error") is True or _tag(span, "otel.status_code") == "ERROR",
        )
    roots: list[SpanNode] = []
    for node in sorted(nodes.values(), key=lambda n: n.start_us):
        parent_node = nodes.get(node.parent_id) if node.parent_id else None
        (parent_node.children if parent_node else roots).append(node)
    return roots


def render(roots: Sequence[SpanNode], title: str) -> Tree:
    """A rich tree: offset from the trace's start, duration, service and operation."""
    began = min((r.start_us for r in roots), default=0)
    tree = Tree(title)

    def add(branch: Tree, node: SpanNode) -> None:
        mark = "[red]✘[/] " if node.error else ""
        link = "↪ " if node.linked else ""
        label = (
            f"{mark}{link}[dim]+{(node.start_us - began) / 1000:8.1f} ms[/] "
            f"[bold]{node.duration_us / 1000:7.1f} ms[/] [cyan]{node.service}[/] "
            f"{node.operation}"
        )
        child = branch.add(label, highlight=False)
        for grandchild in node.children:
            add(child, grandchild)

    for root in roots:
        add(tree, root)
    return tree


def count_spans(roots: Sequence[SpanNode]) -> int:
    return sum(1 + count_spans(r.children) for r in roots)
