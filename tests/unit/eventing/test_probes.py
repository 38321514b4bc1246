"""The probes' HTTP server: liveness always, readiness only when every check passes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from eventing.probes import HealthServer, flag_check


class Unreachable(Exception):
    """The broker cannot be reached."""


def kafka_down() -> None:
    raise Unreachable("no broker at 127.0.0.1:1")


@pytest.fixture
def running() -> threading.Event:
    return threading.Event()


@pytest.fixture
def base_url(running: threading.Event) -> Iterator[str]:
    server = HealthServer(
        "127.0.0.1",
        0,
        checks={"processor": flag_check(running, "the processing loop has not started")},
        metrics=lambda: b"insurance_processor_records_total 7\n",
    )
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_live_answers_while_the_processor_is_not_ready(base_url: str) -> None:
    live = httpx.get(f"{base_url}/health/live")
    ready = httpx.get(f"{base_url}/health/ready")

    assert (live.status_code, live.json()) == (200, {"status": "UP"})
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "DOWN",
        "checks": {"processor": "DOWN: RuntimeError: the processing loop has not started"},
    }


def test_ready_once_every_check_passes(base_url: str, running: threading.Event) -> None:
    running.set()

    ready = httpx.get(f"{base_url}/health/ready")

    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "UP", "checks": {"processor": "UP"}},
    )


def test_a_failing_dependency_makes_it_not_ready() -> None:
    server = HealthServer("127.0.0.1", 0, checks={"kafka": kafka_down}, metrics=str)
    server.start()
    try:
        ready = httpx.get(f"http://127.0.0.1:{server.port}/health/ready")
    finally:
        server.stop()

    assert ready.status_code == 503
    assert ready.json()["checks"] == {"kafka": "DOWN: Unreachable: no broker at 127.0.0.1:1"}


def test_metrics_and_unknown_paths(base_url: str) -> None:
    metrics = httpx.get(f"{base_url}/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
    assert metrics.text == "insurance_processor_records_total 7\n"
    assert httpx.get(f"{base_url}/nothing").status_code == 404
