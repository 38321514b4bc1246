"""``bench/call_counts.py``'s hook profiles only the services it names, from their first line,
and its reading divides a profile's calls by the bookings decided in it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
# A stand-in service: starts (an import), idles past the hook's first write, decides three
# "bookings", then lives long enough to be written again.
SCRIPT = """
import time
import decimal
time.sleep(2.5)
def decide_booking():
    return sum(range(10))
for _ in range(3):
    decide_booking()
time.sleep(2.5)
"""


def _call_counts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("call_counts", REPO / "bench/call_counts.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *arguments: str) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO / "bench/call_counts_hook")}
    environment["CALL_COUNTS_DIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments], env=environment, check=True, timeout=30
    )


def test_a_named_service_is_profiled_and_read_per_booking(tmp_path: Path) -> None:
    began = time.time_ns()
    _run(tmp_path, "care_plan")  # how `python -m care_plan` shows in /proc/self/cmdline
    call_counts = _call_counts()

    [profile] = call_counts.profiles_in_start_order(tmp_path, "care_plan")
    calls, bookings = call_counts.calls_per_booking(profile)

    assert int(profile.stem.split("-")[1]) >= began
    assert bookings == 3
    # decide_booking and its sum per booking (and the last sleep, once): nothing before them.
    assert 2 <= calls <= 2 + 1 / 3


def test_what_the_process_did_before_its_first_booking_is_not_counted(tmp_path: Path) -> None:
    _run(tmp_path, "care_plan")
    call_counts = _call_counts()
    [profile] = call_counts.profiles_in_start_order(tmp_path, "care_plan")
    with_startup = sum(call_counts._calls_by_function(profile).values())

    calls, _ = call_counts.calls_per_booking(profile)
    packages = call_counts.per_package(profile)

    assert profile.with_suffix(".idle").exists()
    assert with_startup > 100 * calls  # the import
    assert set(packages) == {"builtins", "<string>"}


def test_any_other_process_is_left_alone(tmp_path: Path) -> None:
    _run(tmp_path, "care_plan.migrate")

    assert list(tmp_path.iterdir()) == []
