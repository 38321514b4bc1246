"""What the supervisor decides and remembers, without processes: backoff, last error, state file.

The supervisor process itself (``devstack.supervisor``) applies these to the platform's parts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

_MAX_ERROR_LENGTH = 240
_ERROR_LEVELS = {"ERROR", "CRITICAL", "FATAL"}
# The last line of a Python traceback (`ValueError: bad`, `asyncpg.exceptions.X: ...`) or a
# JVM's (`java.net.BindException: Address already in use`).
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b(:.*)?$")
_PLAIN_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before restarting a part that died: ``initial`` doubling up to ``cap``; a part
    that stays up for ``reset_after`` seconds starts again from ``initial`` next time."""

    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
        if failures < 1:
            return 0.0
        # Bounded exponent: 2**failures overflows a float long before anyone counts that far.
        return min(self.cap, self.initial * 2.0 ** min(failures - 1, 32))


def last_error_line(lines: Sequence[str]) -> str:
    """The most recent error in a log's last lines, as one readable line.

    JSON log lines (our services) give ``message`` plus the last line of ``exc_info`` or the
    ``error`` field; plain lines (Kafka, PostgreSQL, a Python traceback on stderr) give the last
    line that names an error. Without an error (a SIGKILL leaves none), the last line, read the
    same way and said to be no error.
    """
    for line in reversed(lines):
        text = line.strip()
        if not text:
            continue
        record = _json_record(text)
        if record is not None:
            if _is_error_record(record):
                return _clip(_record_text(record))
        elif _EXCEPTION_LINE.match(text) or _PLAIN_ERROR.search(text):
            return _clip(text)
    for line in reversed(lines):
        text = line.strip()
        if text:
            record = _json_record(text)
            last = _record_text(record) if record is not None else text
            return _clip(f"no error logged; last line: {last}")
    return ""


def _json_record(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _is_error_record(record: dict[str, Any]) -> bool:
    level = str(record.get("level") or record.get("levelname") or "").upper()
    # A warning with an `error` field (a record parked) is business as usual, not a death.
    return level in _ERROR_LEVELS or "exc_info" in record


def _record_text(record: dict[str, Any]) -> str:
    message = str(record.get("message") or record.get("msg") or "").strip()
    cause = ""
    exc_info = record.get("exc_info")
    if isinstance(exc_info, str) and exc_info.strip():
        cause = exc_info.strip().splitlines()[-1].strip()
    elif record.get("error"):
        cause = str(record["error"]).strip().splitlines()[0]
    if message and cause:
        return f"{message}: {cause}"
    return message or cause or json.dumps(record)


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_LENGTH else line[: _MAX_ERROR_LENGTH - 1] + "…"


class PartState(StrEnum):
    RUNNING = "running"
    BACKING_OFF = "backing off"
    RESTARTING = "restarting"


@dataclass(slots=True)
class PartRecord:
    """What the supervisor knows about one part, kept across its own restarts."""

    state: PartState = PartState.RUNNING
    restarts: int = 0
    # Failures since the part last stayed up for Backoff.reset_after: they set the delay.
    failures: int = 0
    last_error: str = ""
    up_since: float | None = None
    next_attempt: float | None = None
    # The log's size when the running process was first seen: its death is explained by what
    # it logged after that, not by an older process's last error further up the same file.
    log_offset: int = 0


@dataclass(slots=True)
class SupervisorState:
    parts: dict[str, PartRecord] = field(default_factory=dict)

    def part(self, name: str) -> PartRecord:
        return self.parts.setdefault(name, PartRecord())

    @classmethod
    def load(cls, path: Path) -> SupervisorState:
        try:
            raw = json.loads(path.read_text())
            return cls(
                {
                    name: PartRecord(**{**fields, "state": PartState(fields["state"])})
                    for name, fields in raw["parts"].items()
                }
            )
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        """Atomically: `careplan status` may read the file at any moment."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(
            json.dumps({"parts": {name: asdict(record) for name, record in self.parts.items()}})
        )
        os.replace(temporary, path)


def state_file(state_dir: Path) -> Path:
    return state_dir / "supervisor" / "state.json"
