"""``bench/serverless_tail.py`` sized down, against the platform of the test session: a burst of
confirmed bookings goes through the sink, the rules, both queues and both functions, and the sink's
lag and every queue are back to 0 within a minute of the load's end (issue 18).

No rate is asserted: speed is measured by running the benchmark, not by tests."""

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
TAIL = ["eventbridge-sink", "clinic-operations", "patient-notifications"]


def test_the_tail_is_back_to_zero_within_a_minute_of_a_burst(
    launcher: Platform, devstack_settings: DevstackSettings
) -> None:
    launcher.up(TAIL)
    environment = {
        **os.environ,
        "CAREPLAN_STATE_DIR": str(devstack_settings.state_dir),
        "CAREPLAN_PORT_OFFSET": str(devstack_settings.port_offset),
    }
    finished = subprocess.run(
        [sys.executable, "bench/serverless_tail.py",
         "--rate", "10", "--seconds", "10", "--drain-timeout", "60"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = finished.stdout + finished.stderr

    assert finished.returncode == 0, report
    assert re.search(r"offered\s+10\.0 bookings/s for 10 s = 150 records", report), report
    assert re.search(r"drained\s+\d+\.\d s after the load \(lag 0, queues empty\)", report), report
