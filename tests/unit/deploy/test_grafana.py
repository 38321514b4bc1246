"""deploy/grafana: the dashboard is valid JSON Grafana can import, each panel queries
Prometheus, and no two panels overlap (the metrics it names are checked against the running
services in tests/e2e/test_booking_trace.py)."""

from __future__ import annotations

import json
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "careplan-dashboard.json"


def test_every_panel_has_a_prometheus_query_and_a_place_of_its_own() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert dashboard["uid"]
    assert dashboard["title"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        assert panel["datasource"]["type"] == "prometheus"
        assert all(target["expr"].strip() for target in panel["targets"])
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
