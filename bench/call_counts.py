"""Python calls per confirmed booking in Care Plan and Provider Schedule: a figure the host's
steal moves far less than CPU seconds.

    make bench-calls
    uv run python bench/call_counts.py --sampling off 0 0.1     # against a running platform

CPU seconds per booking move with how much of the machine its host steals (0-55 % on
2026-12-03, printed by ``bench/booking.py``), so two configurations compared by CPU need many
interleaved runs. A count of function calls does not move with the steal itself, but it moves
with how the work batches, which does: on a faster host the relay and the consumers take fewer
records per batch, and each booking pays a larger share of the per-batch calls (2026-12-03:
relay batches per booking 1.7 with 16 % stolen, 4.3 with 0.5 %; Care Plan 3,982 and 4,571
calls per booking with tracing off). Compare settings within one run, not across runs. This runs
``bench/booking.py`` once per tracing setting (it restarts both services with each), with each
service profiled by cProfile from its first line (``call_counts_hook/sitecustomize.py``,
loaded through ``PYTHONPATH``), and divides every profile's calls by the bookings it decided
(``decide_booking``, called once per booking on both sides), less what the process had done
before its first booking (startup, imports, idle polling: the hook's ``.idle`` profile), then
prints, per package, what each setting adds to the first. Only the event loop's thread is
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


def _calls_by_function(profile: Path) -> dict[tuple[str, int, str], int]:
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    return {key: row[1] for key, row in stats.items()}


def load_calls(profile: Path) -> tuple[dict[tuple[str, int, str], int], int]:
    """(calls by function, bookings decided) of one profile, less its ``.idle`` profile
    (written before the first booking) when there is one: startup and idling are not the
    bookings' cost."""
    calls = _calls_by_function(profile)
    idle = profile.with_suffix(".idle")
    if idle.exists():
        for key, count in _calls_by_function(idle).items():
            calls[key] = calls.get(key, 0) - count
        calls = {key: count for key, count in calls.items() if count}
    bookings = sum(count for key, count in calls.items() if key[2] == PER_BOOKING)
    return calls, bookings


def calls_per_booking(profile: Path) -> tuple[float, int]:
    """(calls / bookings decided, bookings decided) of one profile, its idle part subtracted."""
    calls, bookings = load_calls(profile)
    return sum(calls.values()) / max(bookings, 1), bookings


def package_of(filename: str) -> str:
    """Where a profiled function lives, coarsely: ``opentelemetry``, ``asyncpg``, ``care_plan``,
    ``stdlib:contextlib``, ``builtins``."""
    if filename == "~":
        return "builtins"
    for marker in ("site-packages/", "/src/"):
        if marker in filename:
            return filename.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python" in filename:
        return "stdlib:" + filename.rsplit("/", 1)[1].removesuffix(".py")
    return filename


def per_package(profile: Path) -> dict[str, float]:
    """Calls per booking by ``package_of``."""
    calls, bookings = load_calls(profile)
    packages: dict[str, float] = {}
    for (filename, _line, _name), count in calls.items():
        package = package_of(filename)
        packages[package] = packages.get(package, 0.0) + count / max(bookings, 1)
    return packages


def print_package_differences(service: str, profiles: list[Path], settings: list[str]) -> None:
    """What each setting adds to the first one's calls per booking, by package (the largest)."""
    if len(profiles) < 2:
        return
    base = per_package(profiles[0])
    print(f"\n{service}: calls per booking added to '{settings[0]}', by package")
    for sampling, profile in zip(settings[1:], profiles[1:], strict=False):
        added = per_package(profile)
        differences = {p: added.get(p, 0.0) - base.get(p, 0.0) for p in {*base, *added}}
        largest = sorted(differences.items(), key=lambda item: -abs(item[1]))[:8]
        print(f"{sampling:>10} " + ", ".join(f"{p} {d:+.0f}" for p, d in largest))


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
    for service in SERVICES:
        print_package_differences(service, by_service[service], arguments.sampling)


if __name__ == "__main__":
    main()
