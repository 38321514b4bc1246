"""Tracing's cost at capacity with the host's drift taken out: two platforms side by side on
the same cores, one with tracing off and one traced, offered the same load at the same moment.

    make bench-tracing-side-by-side
    uv run python bench/tracing_side_by_side.py --runs 4 --rate 300 --seconds 30 --sampling 0.1
    uv run python bench/tracing_side_by_side.py --runs 2 --sampling off     # the method's spread

Why: run one after the other (``tracing_pairs.py``), the same code's confirmed/s at capacity
moved by a fifth between runs minutes apart, and every part's CPU per booking moved with it,
Kafka's and PostgreSQL's too, which tracing does not touch (2026-12-04: Care Plan 1.94-2.61
ms, PostgreSQL 1.64-1.99 ms per booking over six runs within twenty minutes): the host's speed
moves, and a pair of runs measures it as much as tracing. Side by side, both platforms go
through the same moments of the host. Each platform is Kafka, PostgreSQL and the two booking
services, from empty state, with a load generator of its own (``bench/booking.py`` in a process
of its own, its OTLP sink in it); both create their slots, then send at the same moment (the
generators wait on stdin) at ``--rate`` each for ``--seconds``. Both are saturated: the kernel
shares the two cores between their always-runnable event loops, so a platform that spends more
CPU per booking confirms fewer with the same share, and the traced platform's confirmed/s
against the untraced one's is tracing's throughput cost at that moment. Which platform is
traced alternates from run to run (their ports and start order differ), and ``--sampling off``
runs both untraced: the spread between two identical platforms, which bounds what the method
can tell apart.

What it is not: a platform's capacity alone. Each gets about half the machine, so each runs
at about half the rate ``make bench`` reaches, where batches are smaller.

Stops both platforms and deletes their state before each run and after the last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from booking import READY, PhaseFigures
from tracing_pairs import INFRASTRUCTURE

BENCH = Path(__file__).resolve().parent
# The CLI beside this interpreter: run with the project's environment's python or `uv run`.
CAREPLAN = Path(sys.executable).with_name("careplan")
# Two platforms whose ports do not meet (every port shifted by the offset) nor meet a test
# session's (12000) or `make up`'s (0).
PLATFORMS = (
    (Path(".careplan/bench-side-a"), 4000),
    (Path(".careplan/bench-side-b"), 6000),
)


@dataclass(frozen=True)
class Side:
    """One platform of a run, and the load generator that drives it."""

    state_dir: Path
    port_offset: int
    sampling: str

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "CAREPLAN_STATE_DIR": str(self.state_dir),
            "CAREPLAN_PORT_OFFSET": str(self.port_offset),
        }

    def careplan(self, *arguments: str, check: bool = True) -> None:
        subprocess.run(
            [str(CAREPLAN), *arguments], env=self.environment(), check=check, capture_output=True
        )

    def stop(self) -> None:
        self.careplan("down", check=False)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def fresh_infrastructure(self) -> None:
        self.stop()
        self.careplan("up", *INFRASTRUCTURE)


class LoadGenerator:
    """``bench/booking.py`` against one platform, one phase, started on a word from here."""

    def __init__(self, side: Side, load: Sequence[str], seconds: float) -> None:
        self.side = side
        self.result_path = side.state_dir.with_suffix(".json")
        self.result_path.unlink(missing_ok=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._process = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "booking.py"),
                *load,
                "--seconds",
                f"{seconds:g}",
                "--sampling",
                side.sampling,
                "--start-on-stdin",
                "--result-json",
                str(self.result_path),
            ],
            env=side.environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip())
            if line.strip() == READY:
                self.ready.set()
        self.ready.set()  # ended without being ready: wait() below reports it

    def start(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()

    def result(self) -> PhaseFigures:
        self._process.wait()
        self._reader.join()
        if self._process.returncode != 0 or not self.result_path.exists():
            raise RuntimeError(
                f"the load generator of {self.side.state_dir} failed:\n" + "\n".join(self.lines)
            )
        return PhaseFigures.read(self.result_path)


def run_side_by_side(
    sides: Sequence[Side], load: Sequence[str], seconds: float
) -> list[PhaseFigures]:
    """Both platforms fresh, both load generators ready, then both told to send at once."""
    for side in sides:
        side.fresh_infrastructure()
    generators = [LoadGenerator(side, load, seconds) for side in sides]
    for generator in generators:
        generator.ready.wait()
    for generator in generators:
        generator.start()
    return [generator.result() for generator in generators]


def sides_of_run(number: int, sampling: str) -> list[Side]:
    """Platform A untraced and B at ``sampling`` in odd runs, the other way round in even."""
    settings = ["off", sampling] if number % 2 == 0 else [sampling, "off"]
    return [
        Side(state_dir, offset, setting)
        for (state_dir, offset), setting in zip(PLATFORMS, settings, strict=True)
    ]


def throughput_change(first: PhaseFigures, second: PhaseFigures) -> float:
    """``second``'s confirmed/s against ``first``'s, as a fraction (-0.1 is 10 % fewer)."""
    return second.confirmed_per_second / first.confirmed_per_second - 1


def care_plan_cpu_ms(figures: PhaseFigures) -> float:
    return figures.cpu_ms_per_booking.get("care-plan", 0.0)


def loop_shares(figures: PhaseFigures) -> str:
    return ", ".join(
        f"{name} {100 * ran:.0f} / {100 * waited:.0f} %"
        for name, (ran, waited) in figures.loop_shares.items()
    )


def report(runs: Sequence[tuple[PhaseFigures, PhaseFigures]], sampling: str) -> None:
    """``runs``: (untraced, traced) results; with ``--sampling off``, (platform A, platform B)."""
    names = ("A", "B") if sampling == "off" else ("off", sampling)
    disabled = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS") or "none"
    print(
        f"\n== tracing side by side: {names[1]} against {names[0]}, {len(runs)} runs"
        f" (instrumentations disabled: {disabled}) =="
    )
    print(
        f"  run  {names[0]:>8} conf/s  {names[1]:>8} conf/s   change"
        f"   Care Plan CPU ms/booking {names[0]} / {names[1]}   p99 ms"
    )
    changes = []
    for number, (first, second) in enumerate(runs, start=1):
        change = throughput_change(first, second)
        changes.append(change)
        print(
            f"  {number:3d} {first.confirmed_per_second:15.0f} {second.confirmed_per_second:15.0f}"
            f" {100 * change:+8.1f} %   {care_plan_cpu_ms(first):17.2f} /"
            f" {care_plan_cpu_ms(second):.2f}   {first.p99_ms:.0f} / {second.p99_ms:.0f}"
        )
    print(
        f"  median {100 * statistics.median(changes):+.1f} %, mean"
        f" {100 * statistics.fmean(changes):+.1f} %"
        + ("" if sampling == "off" else " (target: no worse than -10 %)")
    )


def main(arguments: argparse.Namespace) -> None:
    runs = []
    try:
        for number in range(arguments.runs):
            sides = sides_of_run(number, arguments.sampling)
            print(
                f"\n#### run {number + 1}: "
                + ", ".join(f"{side.state_dir.name} {side.sampling}" for side in sides)
                + " ####",
                flush=True,
            )
            results = run_side_by_side(sides, load_arguments(arguments), arguments.seconds)
            for side, result in zip(sides, results, strict=True):
                print(
                    f"  {side.state_dir.name} ({side.sampling}):"
                    f" {result.confirmed_per_second:.0f} confirmed/s,"
                    f" Care Plan {care_plan_cpu_ms(result):.2f} ms CPU per booking;"
                    f" event loops on a core / waiting for one: {loop_shares(result)}",
                    flush=True,
                )
            # (untraced, traced); A/A runs keep platform A first.
            if arguments.sampling != "off" and sides[0].sampling != "off":
                results.reverse()
            runs.append((results[0], results[1]))
    finally:
        for state_dir, offset in PLATFORMS:
            Side(state_dir, offset, "off").stop()
    report(runs, arguments.sampling)


def load_arguments(arguments: argparse.Namespace) -> list[str]:
    """``bench/booking.py``'s load: open loop at ``--rate``, or closed with ``--connections``."""
    if arguments.connections:
        return ["--overload", str(arguments.connections)]
    return ["--rates", f"{arguments.rate:g}"]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="bookings/s offered to each platform: above what each confirms beside the other",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="instead of --rate: a closed loop of this many connections to each platform",
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--sampling", default="0.1", help="the traced platform's ratio; off: both untraced"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_arguments())
