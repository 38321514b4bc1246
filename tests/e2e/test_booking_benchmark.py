"""``bench/booking.py`` sized down, against the platform of the test session: it keeps working
(slots made, listed, booked, confirmed and read back from the database, CPU per process).

No figure is asserted: speed is measured by ``make bench``, not by tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.platform import Platform
from devstack.settings import DevstackSettings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_the_booking_benchmark_runs_and_every_offered_booking_is_confirmed(
    launcher: Platform, devstack_settings: DevstackSettings
) -> None:
    launcher.up(["care-plan", "provider-schedule"])
    environment = {
        **os.environ,
        "CAREPLAN_STATE_DIR": str(devstack_settings.state_dir),
        "CAREPLAN_PORT_OFFSET": str(devstack_settings.port_offset),
    }
    finished = subprocess.run(
        [sys.executable, "bench/booking.py", "--rates", "10", "--seconds", "2", "--patients", "5"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    summary = finished.stdout.split("== booking benchmark ==")[1]
    [counts] = re.findall(r"(\d+) sent, (\d+) accepted, (\d+) confirmed, (\d+) expired, "
                          r"(\d+) still waiting", summary)  # fmt: skip
    assert tuple(map(int, counts)) == (20, 20, 20, 0, 0), finished.stdout
    assert "care-plan" in finished.stdout, "CPU per process is reported"
    assert re.search(r"the host stole \d+ % of the machine's CPU time", finished.stdout), (
        "the host's steal is reported beside the figures it falsifies"
    )
    assert re.search(
        r"event loops on a core / waiting for one: care-plan \d+ / \d+ %, "
        r"provider-schedule \d+ / \d+ %",
        summary,
    ), "what saturates is reported: each service's event loop, running and waiting for a core"
