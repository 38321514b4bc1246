"""Loaded by every Python process started with this folder on ``PYTHONPATH`` (bench/call_counts.py):
in Care Plan and Provider Schedule, profiles the main thread with cProfile from the first line
and writes the profile to ``$CALL_COUNTS_DIR`` every few seconds. Written while the process
runs, not at exit: a service stopped by a signal may never reach the interpreter's exit."""

from __future__ import annotations

import os

_PROFILED = (b"care_plan", b"provider_schedule")
_WRITE_EVERY_SECONDS = 2.0


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

    def write_forever() -> None:
        while True:
            time.sleep(_WRITE_EVERY_SECONDS)
            profiler.snapshot_stats()
            with open(path + ".part", "wb") as out:
                marshal.dump(profiler.stats, out)
            os.replace(path + ".part", path)

    profiler.enable()  # this (the main) thread: the event loop's
    threading.Thread(target=write_forever, name="call-counts", daemon=True).start()


if os.environ.get("CALL_COUNTS_DIR"):
    _start(os.environ["CALL_COUNTS_DIR"])
