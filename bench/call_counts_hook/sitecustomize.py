"""Loaded by every Python process started with this folder on ``PYTHONPATH`` (bench/call_counts.py):
in Care Plan and Provider Schedule, profiles the main thread with cProfile from the first line
and writes the profile to ``$CALL_COUNTS_DIR`` every few seconds (and, until the first booking,
to ``<name>.idle`` as well). Written while the process runs, not at exit: a service stopped by
a signal may never reach the interpreter's exit."""

from __future__ import annotations

import os

_PROFILED = (b"care_plan", b"provider_schedule")
_WRITE_EVERY_SECONDS = 2.0
# A function each service calls once per booking it decides (bench/call_counts.py).
_PER_BOOKING = "decide_booking"


def _start(folder: str) -> None:
    import cProfile
    import marshal
    import threading
    import time

    with open("/proc/self/cmdline", "rb") as cmdline:
        arguments = cmdline.read().split(b"\0")
    service = next((a.decode() for a in arguments if a in _PROFILED), None)
    if service is None:
        return  # `python -m care_plan.migrate`, the benchmark, the launcher: not profiled
    profiler = cProfile.Profile()
    path = os.path.join(folder, f"{service}-{time.time_ns()}-{os.getpid()}.prof")

    def write(stats: object, to: str) -> None:
        with open(to + ".part", "wb") as out:
            marshal.dump(stats, out)
        os.replace(to + ".part", to)

    def write_forever() -> None:
        idle = True
        while True:
            time.sleep(_WRITE_EVERY_SECONDS)
            profiler.snapshot_stats()
            write(profiler.stats, path)
            # The last profile before the first booking (startup, imports, idle polling): the
            # reading subtracts it, so that only what the load cost is divided by bookings.
            idle = idle and not any(key[2] == _PER_BOOKING for key in profiler.stats)
            if idle:
                write(profiler.stats, path.removesuffix(".prof") + ".idle")

    profiler.enable()  # this (the main) thread: the event loop's
    threading.Thread(target=write_forever, name="call-counts", daemon=True).start()


if os.environ.get("CALL_COUNTS_DIR"):
    _start(os.environ["CALL_COUNTS_DIR"])
