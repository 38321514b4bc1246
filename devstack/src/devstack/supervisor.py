"""The supervisor `careplan up` leaves running: restarts a part that died, with backoff.

    python -m devstack.supervisor --catalog devstack.catalog:platform_components

A part is supervised while its pid file exists (`up` wrote it, `down` has not removed it): a
pid file whose process is gone is a crash. The part is then started again the way `up`
starts it (prepare, spawn, wait until usable, provision: moto comes back empty, so its bus,
queues and table are applied again) after ``Backoff.delay`` of its failures in a row; a part
whose dependency is down waits for it. Restart counts, states and each part's last error
(one line read from its log) go to ``<state dir>/supervisor/state.json`` for `careplan status`.

The settings come from the environment (``CAREPLAN_*``, ``KAFKA_BOOTSTRAP_SERVERS``, ...):
`up` starts the supervisor with the very settings it ran with.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence

from devstack.component import Component
from devstack.platform import ComponentFailedError, Platform
from devstack.processes import running_process, size_of, tail
from devstack.settings import DevstackSettings
from devstack.supervision import (
    Backoff,
    PartRecord,
    PartState,
    SupervisorState,
    last_error_line,
    state_file,
)

logger = logging.getLogger("devstack.supervisor")

# How many log lines are searched for the error that killed a part.
_LOG_LINES = 200


class Supervisor:
    def __init__(
        self,
        platform: Platform,
        settings: DevstackSettings,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._platform = platform
        self._settings = settings
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._path = state_file(settings.state_dir)
        self._state = SupervisorState.load(self._path)
        self._lock = threading.Lock()
        self._restarts: dict[str, threading.Thread] = {}
        self._stop = threading.Event()

    def run(self, interval: float = 0.5) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(interval)
        for thread in list(self._restarts.values()):
            thread.join(timeout=30)
        self._save()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One look at every supervised part: note crashes, start restarts that are due."""
        now = self._clock()
        supervised = self._supervised()
        for component in supervised:
            with self._lock:
                self._check_part(component, self._state.part(component.name), now)
        self._save()

    def _supervised(self) -> list[Component]:
        return [
            c
            for c in self._platform.components
            if not c.external(self._settings) and self._platform.files(c.name).pid_file.exists()
        ]

    def _check_part(self, component: Component, record: PartRecord, now: float) -> None:
        name = component.name
        if name in self._restarts and self._restarts[name].is_alive():
            return
        self._restarts.pop(name, None)
        files = self._platform.files(name)
        if running_process(files) is not None:
            if record.state is not PartState.RUNNING or record.up_since is None:
                record.state, record.up_since, record.next_attempt = PartState.RUNNING, now, None
                record.log_offset = size_of(files.log_file)
            elif record.failures and now - record.up_since >= self._backoff.reset_after:
                record.failures = 0
            return
        if record.state is PartState.RUNNING:
            logged = tail(files.log_file, _LOG_LINES, since=record.log_offset)
            self._failed(record, last_error_line(logged) or "no error logged", now)
            logger.warning(
                "%s died (%s); restart in %.0f s",
                name,
                record.last_error,
                self._backoff.delay(record.failures),
            )
        if record.next_attempt is not None and now < record.next_attempt:
            return
        if not self._dependencies_running(component):
            return
        record.state, record.next_attempt = PartState.RESTARTING, None
        record.restarts += 1
        thread = threading.Thread(
            target=self._restart, args=(component, record), name=f"restart-{name}", daemon=True
        )
        self._restarts[name] = thread
        thread.start()

    def _failed(self, record: PartRecord, error: str, now: float) -> None:
        record.failures += 1
        record.last_error = error or record.last_error
        record.state = PartState.BACKING_OFF
        record.up_since = None
        record.next_attempt = now + self._backoff.delay(record.failures)

    def _dependencies_running(self, component: Component) -> bool:
        for dependency in component.depends_on:
            needed = self._platform.component(dependency)
            if needed.external(self._settings):
                continue
            if running_process(self._platform.files(dependency)) is None:
                return False
            if self._state.part(dependency).state is not PartState.RUNNING:
                return False
        return True

    def _restart(self, component: Component, record: PartRecord) -> None:
        name = component.name
        logger.info("restarting %s (restart %d)", name, record.restarts)
        try:
            self._platform.start(component, cancelled=self._stop.is_set)
        except ComponentFailedError as error:
            error_line = last_error_line(error.log_tail) or error.reason
            with self._lock:
                self._failed(record, f"{error.reason}: {error_line}", self._clock())
            logger.warning("%s did not start again: %s", name, record.last_error)
        except Exception as error:
            with self._lock:
                self._failed(record, f"{type(error).__name__}: {error}", self._clock())
            logger.exception("%s did not start again", name)
        else:
            with self._lock:
                record.state, record.up_since = PartState.RUNNING, self._clock()
            logger.info("%s is usable again", name)
        self._save()

    def _save(self) -> None:
        with self._lock:
            self._state.save(self._path)


def load_catalog(reference: str) -> Sequence[Component]:
    """``package.module:function`` returning the components, as `up` was given them."""
    module_name, _, attribute = reference.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    components: Sequence[Component] = factory()
    return components


def main() -> None:
    parser = argparse.ArgumentParser(description="Restart the platform's parts that die.")
    parser.add_argument("--catalog", default="devstack.catalog:platform_components")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = DevstackSettings()
    supervisor = Supervisor(Platform(settings, load_catalog(args.catalog)), settings)

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("stopping on signal %s", signum)
        supervisor.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logger.info("supervising %s", args.catalog)
    supervisor.run(args.interval)
    logger.info("stopped")


if __name__ == "__main__":
    main()
