"""``bench/booking.py`` sized down, against the platform of the test session: it keeps working
(slots made, listed, booked, confirmed and read back from the database, CPU per process).

No figure is asserted: speed is measured by ``make bench``, not by tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from devstack.platform import Platform
from devstack.settings import DevstackSettings
from eventing.settings import libpq_dsn

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _environment(settings: DevstackSettings) -> dict[str, str]:
    return {
        **os.environ,
        "CAREPLAN_STATE_DIR": str(settings.state_dir),
        "CAREPLAN_PORT_OFFSET": str(settings.port_offset),
    }


def _bookings(settings: DevstackSettings) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(libpq_dsn(settings.sqlalchemy_url))
        try:
            return int(await connection.fetchval("select count(*) from care_plan.bookings"))
        finally:
            await connection.close()

    return asyncio.run(count())


def test_the_booking_benchmark_runs_and_every_offered_booking_is_confirmed(
    launcher: Platform, devstack_settings: DevstackSettings
) -> None:
    launcher.up(["care-plan", "provider-schedule"])
    environment = _environment(devstack_settings)
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


def test_started_on_stdin_the_benchmark_sends_nothing_until_told_and_writes_its_figures(
    launcher: Platform, devstack_settings: DevstackSettings, tmp_path: Path
) -> None:
    """What ``bench/tracing_side_by_side.py`` relies on to start two platforms' load at once."""
    launcher.up(["care-plan", "provider-schedule"])
    figures_file = tmp_path / "phase.json"
    generator = subprocess.Popen(
        [sys.executable, "bench/booking.py", "--rates", "10", "--seconds", "2", "--patients", "5",
         "--warmup-seconds", "0", "--start-on-stdin", "--result-json", str(figures_file)],
        cwd=REPO, env=_environment(devstack_settings), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert generator.stdin is not None
    assert generator.stdout is not None
    try:
        printed = []
        for line in generator.stdout:  # ends early only if the benchmark fails
            printed.append(line)
            if line.strip() == "ready to send":
                break
        assert printed, "the benchmark printed nothing"
        assert printed[-1].strip() == "ready to send", "".join(printed)
        waiting = _bookings(devstack_settings)
        time.sleep(2.0)  # the whole phase's length: unheld, it would have sent all of it
        assert _bookings(devstack_settings) == waiting, "nothing is sent before the word"
        generator.stdin.write("go\n")
        generator.stdin.flush()
        rest, _ = generator.communicate(timeout=300)
    finally:
        generator.kill()
    assert generator.returncode == 0, "".join(printed) + rest
    figures = json.loads(figures_file.read_text())
    assert (figures["confirmed"], figures["expired"], figures["refused"]) == (20, 0, 0), figures
    assert _bookings(devstack_settings) == waiting + 20
    assert figures["confirmed_per_second"] > 0
    assert figures["cpu_ms_per_booking"]["care-plan"] > 0, "CPU per process is written too"
