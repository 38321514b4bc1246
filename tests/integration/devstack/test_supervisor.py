"""The supervisor `careplan up` leaves running restarts parts that die; `down` stops it first."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from devstack.platform import ComponentStatus, Platform
from devstack.processes import running_process
from devstack.settings import DevstackSettings
from tests.integration.devstack.supervised_parts import CATALOG, components

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    # The supervisor is a process of its own: it imports the stand-in catalog from the repository.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    settings = DevstackSettings(state_dir=tmp_path, port_offset=45000)
    platform = Platform(settings, components(), supervisor_catalog=CATALOG)
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


def _status(platform: Platform) -> dict[str, ComponentStatus]:
    return {row.name: row for row in platform.status()}


def _until(
    platform: Platform, accept: Callable[[dict[str, ComponentStatus]], bool], timeout: float = 30
) -> dict[str, ComponentStatus]:
    deadline = time.monotonic() + timeout
    while True:
        rows = _status(platform)
        if accept(rows):
            return rows
        assert time.monotonic() < deadline, f"status never matched: {rows}"
        time.sleep(0.2)


def test_a_killed_part_is_restarted_and_counted(platform: Platform) -> None:
    assert platform.supervisor_process() is not None
    victim = running_process(platform.files("steady"))
    assert victim is not None

    os.kill(victim.pid, signal.SIGKILL)

    rows = _until(
        platform, lambda r: r["steady"].state == "ready" and r["steady"].pid != victim.pid
    )
    assert rows["steady"].restarts == 1
    assert rows["worker"].state == "ready"
    assert rows["worker"].restarts == 0


def test_a_part_that_keeps_dying_shows_its_error_until_it_comes_back(
    platform: Platform, tmp_path: Path
) -> None:
    marker = tmp_path / "fail-worker"
    marker.touch()

    # Between deaths the worker is ready for an instant, and crashed until the supervisor's
    # next look: wait for the backoff that follows its second restart.
    failing = _until(
        platform, lambda r: r["worker"].restarts >= 2 and r["worker"].state == "restarting"
    )

    assert failing["worker"].detail.endswith(
        "could not reach the broker: ConnectionRefusedError: [Errno 111] Connection refused"
    ), failing["worker"].detail
    marker.unlink()
    back = _until(platform, lambda r: r["worker"].state == "ready")
    assert back["worker"].restarts >= 2
    assert back["steady"].restarts == 0


def test_down_stops_the_supervisor_before_the_parts(platform: Platform) -> None:
    supervisor = platform.supervisor_process()
    assert supervisor is not None
    parts = [running_process(platform.files(name)) for name in ("steady", "worker")]

    platform.down()

    assert not psutil.pid_exists(supervisor) or psutil.Process(supervisor).status() == (
        psutil.STATUS_ZOMBIE
    )
    _, alive = psutil.wait_procs([p for p in parts if p is not None], timeout=5)
    assert alive == []
    # With the supervisor gone before the parts were stopped, nothing started them again.
    assert {row.name: row.state for row in platform.status()} == {
        "steady": "stopped",
        "worker": "stopped",
    }
