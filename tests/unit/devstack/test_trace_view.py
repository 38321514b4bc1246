"""devstack.trace_view: Jaeger's trace JSON as a span tree (parents, links, timings)."""

from __future__ import annotations

from typing import Any

from devstack.trace_view import count_spans, render, span_tree

TRACE = "t1"


def _span(
    span_id: str, name: str, start: int, process: str, refs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "traceID": TRACE,
        "spanID": span_id,
        "operationName": name,
        "startTime": start,
        "duration": 1500,
        "processID": process,
        "references": refs or [],
        "tags": [],
    }


def _child_of(span_id: str, kind: str = "CHILD_OF", trace: str = TRACE) -> dict[str, Any]:
    return {"refType": kind, "traceID": trace, "spanID": span_id}


def test_children_hang_under_their_parent_in_start_order() -> None:
    trace = {
        "spans": [
            _span("c2", "publish", 300, "p1", [_child_of("root")]),
            _span("root", "POST /patients/{id}/bookings", 100, "p1"),
            _span("c1", "INSERT outbox", 200, "p1", [_child_of("root")]),
            _span("g1", "process", 400, "p2", [_child_of("c2")]),
        ],
        "processes": {
            "p1": {"serviceName": "care-plan"},
            "p2": {"serviceName": "provider-schedule"},
        },
    }
    roots = span_tree(trace)
    assert [r.span_id for r in roots] == ["root"]
    assert [c.operation for c in roots[0].children] == ["INSERT outbox", "publish"]
    assert roots[0].children[1].children[0].service == "provider-schedule"
    assert count_spans(roots) == 4


def test_a_follows_from_reference_is_drawn_as_a_link() -> None:
    trace = {
        "spans": [
            _span("root", "POST", 100, "p1"),
            _span("batch", "relay batch", 200, "p1", [_child_of("root", "FOLLOWS_FROM")]),
        ],
        "processes": {"p1": {"serviceName": "care-plan"}},
    }
    batch = span_tree(trace)[0].children[0]
    assert batch.linked


def test_a_parent_in_another_trace_makes_a_root() -> None:
    trace = {
        "spans": [_span("x", "consume", 100, "p1", [_child_of("elsewhere", trace="t2")])],
        "processes": {"p1": {"serviceName": "eventbridge-sink"}},
    }
    assert [r.span_id for r in span_tree(trace)] == ["x"]


def test_the_rendering_shows_offsets_durations_and_services() -> None:
    from rich.console import Console

    trace = {
        "spans": [
            _span("root", "POST", 1_000, "p1"),
            _span("c", "q", 3_000, "p1", [_child_of("root")]),
        ],
        "processes": {"p1": {"serviceName": "care-plan"}},
    }
    console = Console(width=120, record=True)
    console.print(render(span_tree(trace), "trace t1"))
    text = console.export_text()
    assert "+     2.0 ms" in text
    assert "1.5 ms" in text
    assert "care-plan" in text
