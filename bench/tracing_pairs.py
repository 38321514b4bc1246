"""Tracing's cost at the booking path's capacity: pairs of runs, tracing off and at a sampling
ratio, each on a platform started from empty state, the order alternating from pair to pair.

    make bench-tracing-pairs
    uv run python bench/tracing_pairs.py --pairs 3 --rate 400 --seconds 20 --sampling 0.1

Why pairs of fresh platforms rather than ``bench/booking.py --sampling off 0.1`` on one: at
capacity the same code's confirmed/s moved by a fifth from one run to the next (2026-12-04,
README, What tracing costs), and a platform holding an earlier phase's rows is slower, so the
setting measured second pays for the first one's rows. Here every run starts from empty
state, and off goes first in odd pairs and second in even ones, so that a drift of the host
over the minutes of a pair falls on both sides. It prints each pair and the median and mean of
the pairs' changes; with a spread this wide, read the pairs, not only the median.

Stops the benchmark platform (``CAREPLAN_STATE_DIR``) and deletes its state before each run.

``tracing_side_by_side.py`` runs the two settings at the same moment on two platforms instead,
which takes the host's drift out (two untraced platforms within a few percent of each other).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
from collections.abc import Sequence

from booking import PhaseResult
from booking import parse_arguments as booking_arguments
from booking import run as run_booking
from tracing_switch import ensure_otlp_endpoint, restart_with_sampling

from devstack.settings import DevstackSettings

# What the booking path runs on; its two services are started by restart_with_sampling, once,
# with the run's sampling.
INFRASTRUCTURE = ["--only", "kafka", "--only", "postgres"]


def fresh_platform(settings: DevstackSettings) -> None:
    """Kafka and PostgreSQL from empty state."""
    subprocess.run(["careplan", "down"], check=False, capture_output=True)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    subprocess.run(["careplan", "up", *INFRASTRUCTURE], check=True, capture_output=True)


def capacity(settings: DevstackSettings, sampling: str, phase: argparse.Namespace) -> PhaseResult:
    """One run's phase on a fresh platform with tracing at ``sampling``."""
    fresh_platform(settings)
    print(f"\n#### tracing {sampling} ####", flush=True)
    results = asyncio.run(
        run_booking(restart_with_sampling(settings, sampling), phase, label=sampling)
    )
    return results[-1]


def change(off: PhaseResult, traced: PhaseResult) -> float:
    """The traced run's confirmed/s against the off run's, as a fraction (-0.1 is 10 % less)."""
    return traced.confirmed_per_second / off.confirmed_per_second - 1


def care_plan_cpu_ms(result: PhaseResult) -> float:
    return 1000 * result.cpu_seconds.get("care-plan", 0.0) / max(result.confirmed, 1)


def report(pairs: Sequence[tuple[PhaseResult, PhaseResult]], sampling: str) -> None:
    print(f"\n== tracing {sampling} against off at capacity, {len(pairs)} pairs ==")
    print("  pair   off conf/s  traced conf/s   change   Care Plan CPU ms/booking off / traced")
    for number, (off, traced) in enumerate(pairs, start=1):
        print(
            f"  {number:4d} {off.confirmed_per_second:12.0f} {traced.confirmed_per_second:14.0f}"
            f" {100 * change(off, traced):+8.1f} %   {care_plan_cpu_ms(off):.2f} /"
            f" {care_plan_cpu_ms(traced):.2f}"
        )
    changes = [change(off, traced) for off, traced in pairs]
    print(
        f"  median {100 * statistics.median(changes):+.1f} %, mean"
        f" {100 * statistics.fmean(changes):+.1f} % (target: no worse than -10 %)"
    )


def main(arguments: argparse.Namespace) -> None:
    settings = DevstackSettings()
    phase = booking_arguments(["--rates", str(arguments.rate), "--seconds", str(arguments.seconds)])
    sink = ensure_otlp_endpoint(settings)
    pairs: list[tuple[PhaseResult, PhaseResult]] = []
    try:
        for number in range(arguments.pairs):
            order = ["off", arguments.sampling]
            if number % 2:
                order.reverse()
            by_setting = {sampling: capacity(settings, sampling, phase) for sampling in order}
            pairs.append((by_setting["off"], by_setting[arguments.sampling]))
    finally:
        if sink is not None:
            sink.shutdown()
    report(pairs, arguments.sampling)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, default=400.0, help="offered bookings/s: above the capacity"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sampling", default="0.1", help="the ratio compared with off")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_arguments())
