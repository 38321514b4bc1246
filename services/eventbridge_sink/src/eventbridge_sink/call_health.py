"""How long PutEvents has been failing: the sink's readiness.

A failing *call* (AccessDenied, the endpoint unreachable) says nothing about the records, so the
forwarder retries it forever and commits nothing meanwhile: no record is lost, but nothing
reaches the bus either. Past a grace period that is not a blip any more, and the sink reports
itself not ready, so that an orchestrator and an operator see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CallHealth:
    def __init__(
        self, *, unready_after_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._grace = unready_after_seconds
        self._clock = clock
        self._failing_since: float | None = None
        self.last_error = ""

    def failed(self, error: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = self._clock()
        self.last_error = f"{type(error).__name__}: {error}"[:200]

    def succeeded(self) -> None:
        self._failing_since = None
        self.last_error = ""

    def failing_for(self) -> float:
        return 0.0 if self._failing_since is None else self._clock() - self._failing_since

    def readiness_check(self) -> None:
        failing = self.failing_for()
        if failing > self._grace:
            raise RuntimeError(f"PutEvents failing for {failing:.0f} s: {self.last_error}")
