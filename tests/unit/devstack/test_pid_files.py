"""A pid file names its process across a step of the wall clock, and never a stranger.

Real child processes; only the clock step is simulated, as psutil on Linux shows it: the boot
time and every process's start move by the step together."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.processes import ProcessFiles, running_process, spawn, terminate

STEP_SECONDS = 13.0  # the jump this machine's clock made on 2026-12-03


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ProcessFiles]:
    files = ProcessFiles.under(tmp_path, "sleeper")
    spawn([sys.executable, "-c", "import time; time.sleep(60)"], files, env=dict(os.environ))
    yield files
    terminate(files, sig=signal.SIGTERM, timeout=5)


def _step_the_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    booted, created = psutil.boot_time, psutil.Process.create_time
    monkeypatch.setattr(psutil, "boot_time", lambda: booted() + seconds)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: created(self) + seconds)


def test_the_process_is_found_after_the_wall_clock_steps(
    sleeper: ProcessFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = running_process(sleeper)
    assert found is not None
    _step_the_clock(monkeypatch, STEP_SECONDS)
    assert running_process(sleeper) == found


def test_a_pid_file_of_before_the_step_record_still_names_its_process(
    sleeper: ProcessFiles,
) -> None:
    record = json.loads(sleeper.pid_file.read_text())
    sleeper.pid_file.write_text(json.dumps({"pid": record["pid"], "started": record["started"]}))
    assert running_process(sleeper) is not None


def test_a_process_started_at_another_moment_is_not_ours(sleeper: ProcessFiles) -> None:
    record = json.loads(sleeper.pid_file.read_text())
    for field in ("started", "since_boot"):
        record[field] -= 5.0  # a reused pid: its process started seconds after ours
    sleeper.pid_file.write_text(json.dumps(record))
    assert running_process(sleeper) is None
