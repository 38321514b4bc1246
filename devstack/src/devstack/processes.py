"""Detached processes tracked by pid files under the state folder.

A pid file holds the pid and the process start time, so that a pid reused by the system after a
crash is never mistaken for our process. The start is kept twice: as wall-clock time, and as
seconds since boot. On Linux psutil derives a process's start from the boot time, which moves
when the wall clock is stepped (NTP after a laptop wakes, a VM resumed after a pause: on
2026-12-03 this machine's clock jumped 13 s mid-benchmark); the wall-clock start alone then
no longer matched, every part looked stopped, and `down` left them running on their ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil


class ProcessState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class ProcessFiles:
    pid_file: Path
    log_file: Path

    @classmethod
    def under(cls, state_dir: Path, name: str) -> ProcessFiles:
        return cls(state_dir / "pids" / f"{name}.pid", state_dir / "logs" / f"{name}.log")


# How far a recorded start may be from the process's own: /proc keeps it in clock ticks.
_SAME_START_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _PidRecord:
    pid: int
    started: float  # wall-clock time
    since_boot: float | None  # None in pid files written before it was kept


def _read_pid(files: ProcessFiles) -> _PidRecord | None:
    try:
        record = json.loads(files.pid_file.read_text())
        since_boot = record.get("since_boot")
        return _PidRecord(
            int(record["pid"]),
            float(record["started"]),
            None if since_boot is None else float(since_boot),
        )
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def _start_of(process: psutil.Process) -> tuple[float, float]:
    """(wall-clock start, seconds since boot at the start); the boot time read first, so that
    on Linux both come from the same reading of it."""
    booted = psutil.boot_time()
    started = process.create_time()
    return started, started - booted


def _is_recorded(process: psutil.Process, record: _PidRecord) -> bool:
    """The recorded process, by either of its starts: the wall-clock one survives a clock step
    where psutil reads starts as wall-clock times (macOS), the one since boot where it derives
    them from the boot time (Linux)."""
    # The supervisor asks this of every part twice a second: the boot time (a read of
    # /proc/stat) only when the wall-clock start does not match.
    if abs(process.create_time() - record.started) <= _SAME_START_SECONDS:
        return True
    if record.since_boot is None:
        return False
    _, since_boot = _start_of(process)
    return abs(since_boot - record.since_boot) <= _SAME_START_SECONDS


def running_process(files: ProcessFiles) -> psutil.Process | None:
    record = _read_pid(files)
    if record is None:
        return None
    try:
        process = psutil.Process(record.pid)
        if not _is_recorded(process, record) or process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.NoSuchProcess:
        return None


def state_of(files: ProcessFiles) -> ProcessState:
    if not files.pid_file.exists():
        return ProcessState.STOPPED
    return ProcessState.RUNNING if running_process(files) else ProcessState.CRASHED


def spawn(
    argv: Sequence[str],
    files: ProcessFiles,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
) -> psutil.Process:
    """Start ``argv`` in its own session, output appended to the log file."""
    files.pid_file.parent.mkdir(parents=True, exist_ok=True)
    files.log_file.parent.mkdir(parents=True, exist_ok=True)
    with files.log_file.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            user=user,
            # A session of its own: `down` signals the whole group, children included,
            # and Ctrl-C in the terminal that ran `up` does not reach it.
            start_new_session=True,
        )
    process = psutil.Process(popen.pid)
    started, since_boot = _start_of(process)
    files.pid_file.write_text(
        json.dumps({"pid": popen.pid, "started": started, "since_boot": since_boot})
    )
    return process


def terminate(
    files: ProcessFiles, *, sig: signal.Signals, timeout: float, own_group_only: bool = False
) -> bool:
    """Signal the process group, wait, then kill what is left. True if something was stopped.

    :param own_group_only: leave alone children that run in sessions of their own (the parts
        the supervisor restarted: stopping the supervisor must not stop them).
    """
    process = running_process(files)
    stopped = False
    if process is not None:
        group = _group_members(process)
        if own_group_only:
            group = [member for member in group if _process_group(member) == process.pid]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        _, alive = psutil.wait_procs(group, timeout=timeout)
        for leftover in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        psutil.wait_procs(alive, timeout=5)
        stopped = True
    files.pid_file.unlink(missing_ok=True)
    return stopped


def _group_members(process: psutil.Process) -> list[psutil.Process]:
    members = [process]
    with contextlib.suppress(psutil.NoSuchProcess):
        members.extend(process.children(recursive=True))
    return members


def _process_group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def tail(path: Path, lines: int = 20, *, since: int = 0) -> list[str]:
    """The last ``lines`` lines of a log, only from byte offset ``since`` on."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(since if since <= size else 0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
