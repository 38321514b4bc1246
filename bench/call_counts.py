"""Python calls per confirmed booking in Care Plan and Provider Schedule: a figure the host
cannot steal from.

    make bench-calls
    uv run python bench/call_counts.py --sampling off 0 0.1     # against a running platform

CPU seconds per booking move with how much of the machine its host steals (0-55 % on
2026-12-03, printed by ``bench/booking.py``), so two configurations compared by CPU need many
interleaved runs. A count of function calls does not move with it: this runs
``bench/booking.py`` once per tracing setting (it restarts both services with each), with each
service profiled by cProfile from its first line (``call_counts_hook/sitecustomize.py``,
loaded through ``PYTHONPATH``), and divides every profile's calls by the bookings it decided
(``decide_booking``, called once per booking on both sides). Startup is in every profile,
spread over the bookings (~150 calls per booking at 600). Only the event loop's thread is
profiled: the span exporter's thread (OTLP encoding) is not counted. Admission control is set
out of the way: under the profiler the services are slower, and a refused request would count
as part of a booking.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
from pathlib import Path

HOOK = Path(__file__).resolve().parent / "call_counts_hook"
# Not a temporary folder: the last setting's services still write to it when this reads it.
PROFILES = Path(__file__).resolve().parents[1] / ".careplan" / "call-counts"
SERVICES = ("care_plan", "provider_schedule")
# A function each service calls once per booking it decides.
PER_BOOKING = "decide_booking"


def calls_per_booking(profile: Path) -> tuple[float, int]:
    """(all calls / bookings decided, bookings decided) of one profile."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    bookings = sum(row[1] for key, row in stats.items() if key[2] == PER_BOOKING)
    calls = sum(row[1] for row in stats.values())
    return calls / max(bookings, 1), bookings


def profiles_in_start_order(folder: Path, service: str) -> list[Path]:
    """The service's profiles, oldest process first (the hook names them
    ``<service>-<start ns>-<pid>.prof``)."""
    found = folder.glob(f"{service}-*.prof")
    return sorted(found, key=lambda path: int(path.stem.split("-")[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampling", nargs="+", default=["off", "0", "0.1"])
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=20)
    arguments = parser.parse_args()

    shutil.rmtree(PROFILES, ignore_errors=True)
    PROFILES.mkdir(parents=True)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])),
        "CALL_COUNTS_DIR": str(PROFILES),
        "CAREPLAN_ADMISSION_BUDGET_SECONDS": "1000",
    }
    booking = [
        sys.executable,
        str(Path(__file__).resolve().parent / "booking.py"),
        *("--rates", f"{arguments.rate:g}", "--seconds", f"{arguments.seconds:g}"),
        *("--warmup-seconds", "0", "--sampling", *arguments.sampling),
    ]
    subprocess.run(booking, env=environment, check=True)
    print("\nPython calls per confirmed booking (cProfile, the event loop's thread; bookings):")
    print(f"{'sampling':>10} {'Care Plan':>18} {'Provider Schedule':>18}")
    by_service = {service: profiles_in_start_order(PROFILES, service) for service in SERVICES}
    for index, sampling in enumerate(arguments.sampling):
        cells = []
        for service in SERVICES:
            profiles = by_service[service]
            if index >= len(profiles):
                cells.append("no profile")
                continue
            calls, bookings = calls_per_booking(profiles[index])
            cells.append(f"{calls:,.0f} ({bookings})")
        print(f"{sampling:>10} {cells[0]:>18} {cells[1]:>18}")


if __name__ == "__main__":
    main()
