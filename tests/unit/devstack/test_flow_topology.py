"""devstack.flow.topology: every edge joins drawn nodes; no two nodes share a cell."""

from __future__ import annotations

from devstack.flow.topology import BOX_HEIGHT, BOX_WIDTH, EDGES, NODES, lines


def test_every_edge_joins_two_known_nodes() -> None:
    ids = {n.id for n in NODES}
    assert {e.source for e in EDGES} | {e.target for e in EDGES} <= ids


def test_no_two_nodes_overlap() -> None:
    cells = [(n.column, n.row) for n in NODES]
    assert len(cells) == len(set(cells))


def test_lines_start_and_end_on_box_borders_not_inside_boxes() -> None:
    def inside(x: int, y: int) -> bool:
        return any(
            n.x + 1 < x < n.x + BOX_WIDTH - 1 and n.y + 1 < y < n.y + BOX_HEIGHT - 1 for n in NODES
        )

    for line in lines():
        assert all(not inside(x, y) for x, y in line.points)
