"""``bench/request_cost.py`` sized down: it keeps working (every request through the served
stack admitted, then refused, at three samplings). No figure is asserted: ``make bench``
prints them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_request_cost_benchmark_measures_three_samplings() -> None:
    finished = subprocess.run(
        [sys.executable, "bench/request_cost.py", "--requests", "50"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    ways = re.findall(r"^  (.+?)\s+\d+ µs\s+\d+ µs$", finished.stdout, flags=re.MULTILINE)
    assert ways == ["off", "10 %", "100 %"]
