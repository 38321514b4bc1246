"""The booking's trace read back from the real Jaeger, as `careplan trace <bookingId>` does.

Jaeger is built from its Go module (minutes on two cores): `make test-tracing` builds it and
runs this module with CAREPLAN_REQUIRE_JAEGER=1, where a missing build fails the run. In
`make test` the same trace is checked against the in-process OTLP receiver
(test_booking_trace.py), and this module runs only where Jaeger is already built.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from devstack import jaeger
from devstack.catalog import platform_components
from devstack.cli import app
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from devstack.trace_view import count_spans, fetch_trace, find_trace_ids, render, span_tree
from tests.support.story import book_insured_onsite, eventually

pytestmark = pytest.mark.e2e
TRACED = ["care-plan", "provider-schedule", "insurance-processor", "eventbridge-sink",
          "clinic-operations"]  # fmt: skip


@pytest.fixture(scope="module")
def traced_settings(devstack_settings: DevstackSettings) -> DevstackSettings:
    if not jaeger.installed(devstack_settings):
        if os.environ.get("CAREPLAN_REQUIRE_JAEGER"):
            pytest.fail("Jaeger is not built: `careplan install --with tracing`")
        pytest.skip("Jaeger not built here (`make test-tracing` builds it and runs this)")
    return devstack_settings.model_copy(update={"tracing": True})


@pytest.fixture(scope="module")
def traced_platform(launcher: Platform, traced_settings: DevstackSettings) -> Iterator[Platform]:
    traced = Platform(traced_settings, platform_components())
    traced.up(["jaeger"])
    traced.down(TRACED)
    traced.up(TRACED)
    try:
        yield traced
    finally:
        traced.down([*TRACED, "jaeger"])


def test_careplan_trace_prints_the_booking_across_every_service(
    traced_platform: Platform, traced_settings: DevstackSettings
) -> None:
    booking_id = book_insured_onsite(traced_settings)
    with httpx.Client(base_url=traced_settings.jaeger_url, timeout=10) as client:

        def whole_trace() -> dict[str, object] | None:
            ids = find_trace_ids(client, booking_id)
            if not ids:
                return None
            trace = fetch_trace(client, ids[0])
            services = {p["serviceName"] for p in trace["processes"].values()}  # type: ignore[attr-defined]
            return trace if services >= set(TRACED) else None

        trace = eventually(whole_trace, within=90, what="the whole trace in Jaeger")

    roots = span_tree(trace)
    assert len(roots) == 1, "the trace has one root: the POST"
    console = Console(width=160, record=True)
    console.print(render(roots, f"booking {booking_id}"))
    printed = console.export_text()
    for service in TRACED:
        assert service in printed
    assert "record clinic visit" in printed
    assert count_spans(roots) == len(trace["spans"])  # type: ignore[arg-type]

    # The command itself, as a person runs it against this platform.
    result = CliRunner().invoke(
        app,
        ["trace", booking_id],
        env={
            "CAREPLAN_PORT_OFFSET": str(traced_settings.port_offset),
            "CAREPLAN_STATE_DIR": str(traced_settings.state_dir.resolve()),
            "COLUMNS": "200",
        },
    )
    assert result.exit_code == 0, result.output
    assert f"booking {booking_id}" in result.output
    assert "clinic-operations" in result.output
