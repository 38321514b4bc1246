"""The platform's topology as the page draws it: services, topics, bus, queues, functions and
the table, placed on a grid, with the flows between them (pure data; the template draws it).

Each kind has its own shape and a caption naming the kind, so the diagram reads without colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contract import topics

BOX_WIDTH = 170
BOX_HEIGHT = 46
_COLUMNS = (10, 215, 420, 625)
_ROWS = (10, 80, 150, 220, 290, 360, 430)
WIDTH = _COLUMNS[-1] + BOX_WIDTH + 10
HEIGHT = _ROWS[-1] + BOX_HEIGHT + 10


class Kind(StrEnum):
    SERVICE = "service"
    TOPIC = "Kafka topic"
    BUS = "EventBridge bus"
    QUEUE = "SQS queue"
    FUNCTION = "Lambda function"
    TABLE = "DynamoDB table"


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: str
    kind: Kind
    column: int
    row: int

    @property
    def x(self) -> int:
        return _COLUMNS[self.column]

    @property
    def y(self) -> int:
        return _ROWS[self.row]

    @property
    def center(self) -> tuple[int, int]:
        return self.x + BOX_WIDTH // 2, self.y + BOX_HEIGHT // 2


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    # Bends on the way, for a flow that would otherwise cross other boxes.
    via: tuple[tuple[int, int], ...] = ()


NODES: tuple[Node, ...] = (
    # The request/reply exchange as a diamond: no two of its flows cross.
    Node(topics.PROVIDER_AVAILABILITY, "provider.availability", Kind.TOPIC, 1, 0),
    Node("care-plan", "Care Plan", Kind.SERVICE, 0, 1),
    Node(topics.BOOKING_REQUESTS, "…booking.requests", Kind.TOPIC, 1, 1),
    Node("provider-schedule", "Provider Schedule", Kind.SERVICE, 2, 1),
    Node(topics.BOOKING_REPLIES, "…booking.replies", Kind.TOPIC, 1, 2),
    Node(topics.CAREPLAN_BOOKINGS, "careplan.bookings", Kind.TOPIC, 0, 3),
    Node("insurance-processor", "Insurance Processor", Kind.SERVICE, 1, 3),
    Node(topics.CAREPLAN_BOOKINGS_INSURED, "careplan.bookings.insured", Kind.TOPIC, 2, 3),
    Node("eventbridge-sink", "EventBridge Sink", Kind.SERVICE, 3, 3),
    Node("care-plan-events", "care-plan-events", Kind.BUS, 3, 4),
    Node("onsite-queue", "onsite-…-queue", Kind.QUEUE, 2, 5),
    Node("clinic-operations", "Clinic Operations", Kind.FUNCTION, 1, 5),
    Node("clinic-visits", "clinic-visits", Kind.TABLE, 0, 5),
    Node("confirmed-queue", "confirmed-…-queue", Kind.QUEUE, 3, 5),
    Node("patient-notifications", "Patient Notifications", Kind.FUNCTION, 3, 6),
)

EDGES: tuple[Edge, ...] = (
    Edge("care-plan", topics.BOOKING_REQUESTS),
    Edge(topics.BOOKING_REQUESTS, "provider-schedule"),
    Edge("provider-schedule", topics.PROVIDER_AVAILABILITY),
    Edge(topics.PROVIDER_AVAILABILITY, "care-plan"),
    Edge("provider-schedule", topics.BOOKING_REPLIES),
    Edge(topics.BOOKING_REPLIES, "care-plan"),
    Edge("care-plan", topics.CAREPLAN_BOOKINGS),
    Edge(topics.CAREPLAN_BOOKINGS, "insurance-processor"),
    Edge("insurance-processor", topics.CAREPLAN_BOOKINGS_INSURED),
    Edge(topics.CAREPLAN_BOOKINGS_INSURED, "eventbridge-sink"),
    # The sink forwards careplan.bookings too (the on-site rule's input): under the row.
    Edge(
        topics.CAREPLAN_BOOKINGS,
        "eventbridge-sink",
        via=(
            (_COLUMNS[0] + 40, _ROWS[3] + BOX_HEIGHT + 12),
            (_COLUMNS[3] + 20, _ROWS[3] + BOX_HEIGHT + 12),
        ),
    ),
    Edge("eventbridge-sink", "care-plan-events"),
    Edge("care-plan-events", "onsite-queue"),
    Edge("onsite-queue", "clinic-operations"),
    Edge("clinic-operations", "clinic-visits"),
    Edge("care-plan-events", "confirmed-queue"),
    Edge("confirmed-queue", "patient-notifications"),
)


@dataclass(frozen=True, slots=True)
class Line:
    """An edge as drawn: from one box's border to the other's, never through the boxes."""

    points: tuple[tuple[int, int], ...]

    @property
    def svg_points(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)


def _border_point(node: Node, toward: tuple[int, int]) -> tuple[int, int]:
    cx, cy = node.center
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    # Scale the direction until it meets the box's edge.
    scale = min(
        (BOX_WIDTH / 2) / abs(dx) if dx else float("inf"),
        (BOX_HEIGHT / 2) / abs(dy) if dy else float("inf"),
    )
    return round(cx + dx * scale), round(cy + dy * scale)


def lines() -> list[Line]:
    by_id = {n.id: n for n in NODES}
    drawn = []
    for edge in EDGES:
        source, target = by_id[edge.source], by_id[edge.target]
        if edge.via:
            # Leave and enter straight down/up: the bends sit under the boxes.
            first, last = edge.via[0], edge.via[-1]
            start = (first[0], source.y + BOX_HEIGHT)
            end = (last[0], target.y + BOX_HEIGHT)
            drawn.append(Line((start, *edge.via, end)))
            continue
        drawn.append(
            Line((_border_point(source, target.center), _border_point(target, source.center)))
        )
    return drawn
