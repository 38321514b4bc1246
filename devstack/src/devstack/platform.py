"""Starts, checks and stops the components of the platform in dependency order.

With a supervisor catalog (what `careplan up` uses), ``up`` leaves a supervisor process
running that restarts a part that dies (``devstack.supervisor``); ``down`` stops it first, so
that it does not restart what is being stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from devstack.component import Component, NotReadyError
from devstack.ports import PortConflict, ephemeral_ports, holder_of, is_taken
from devstack.processes import (
    ProcessFiles,
    ProcessState,
    running_process,
    spawn,
    state_of,
    tail,
    terminate,
)
from devstack.replicas import ReplicaPlan, expand, surplus
from devstack.settings import DevstackSettings
from devstack.supervision import PartState, SupervisorState, last_error_line, state_file

SUPERVISOR = "supervisor"


class ComponentFailedError(RuntimeError):
    def __init__(self, component: str, reason: str, log_tail: Sequence[str]) -> None:
        details = "\n".join(f"    {line}" for line in log_tail)
        super().__init__(
            f"{component}: {reason}\n{details}" if details else f"{component}: {reason}"
        )
        self.component = component
        self.reason = reason
        self.log_tail = list(log_tail)


class PortsTakenError(RuntimeError):
    """Ports a part would listen on are held by another process; nothing was started."""

    def __init__(self, conflicts: Sequence[PortConflict]) -> None:
        super().__init__(
            "; ".join(f"{c.component}: port {c.port} is taken by {c.holder}" for c in conflicts)
        )
        self.conflicts = list(conflicts)


class EphemeralPortsError(RuntimeError):
    """Ports a part would listen on lie in the kernel's range for outgoing connections: any
    connection may take one at any time, so the platform refuses them before it starts."""

    def __init__(self, ports: Sequence[int], ephemeral: range) -> None:
        super().__init__(
            f"ports {', '.join(map(str, ports))} lie in the kernel's ephemeral range"
            f" {ephemeral.start}-{ephemeral.stop - 1}"
        )
        self.ports = list(ports)
        self.ephemeral = ephemeral


class Reporter(Protocol):
    def starting(self, component: str, message: str) -> None: ...

    def ready(self, component: str, address: str, seconds: float) -> None: ...


class SilentReporter:
    def starting(self, component: str, message: str) -> None:
        return None

    def ready(self, component: str, address: str, seconds: float) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: str  # ready | external | stopped | crashed | restarting | not ready: ...
    pid: int | None
    address: str
    # One readable line: why it is not ready, or the last error that killed it.
    detail: str = ""
    restarts: int = 0


class Platform:
    def __init__(
        self,
        settings: DevstackSettings,
        components: Sequence[Component],
        *,
        supervisor_catalog: str | None = None,
    ) -> None:
        """:param supervisor_catalog: ``module:function`` returning ``components``; given, ``up``
        leaves a supervisor running that restarts dead parts (it re-reads the catalog in its
        own process). Without it nothing is supervised, as in the test session.

        Each part runs as many replicas as ``settings.replicas`` says, or as the plan the last
        ``up`` stored says (devstack.replicas); ``components`` lists the parts."""
        self._settings = settings
        self._parts = list(components)
        self._plan = (
            ReplicaPlan.parse(settings.replicas)
            if settings.replicas
            else ReplicaPlan.load(settings.state_dir)
        )
        self._plan.check(self._parts)
        self._components = {c.name: c for c in expand(self._parts, self._plan)}
        self._supervisor_catalog = supervisor_catalog

    @property
    def settings(self) -> DevstackSettings:
        return self._settings

    @property
    def components(self) -> list[Component]:
        return list(self._components.values())

    def component(self, name: str) -> Component:
        return self._components[name]

    def replicas(self, part: str) -> list[Component]:
        """Every replica of ``part``, replica 0 first."""
        return [c for c in self._components.values() if c.part == part]

    def _named(self, names: Iterable[str]) -> set[str]:
        """Process names for ``names``: a part's name stands for all its replicas."""
        wanted = set(names)
        unknown = wanted - {n for c in self._components.values() for n in (c.name, c.part)}
        if unknown:
            raise KeyError(f"unknown components: {', '.join(sorted(unknown))}")
        return {c.name for c in self._components.values() if wanted & {c.name, c.part}}

    def files(self, name: str) -> ProcessFiles:
        return ProcessFiles.under(self._settings.state_dir, name)

    def select(self, names: Iterable[str] | None) -> list[Component]:
        """The named components and everything they depend on, in start order; without
        names, every component but the optional ones."""
        wanted = (
            self._named(names)
            if names is not None
            else {c.name for c in self._components.values() if not c.optional}
        )
        closure: set[str] = set()
        stack = list(wanted)
        while stack:
            name = stack.pop()
            if name not in closure:
                closure.add(name)
                stack.extend(self._components[name].depends_on)
        return [c for c in self._components.values() if c.name in closure]

    def _waves(self, components: list[Component]) -> list[list[Component]]:
        """Components in start order; dependencies outside ``components`` count as satisfied."""
        chosen = {c.name for c in components}
        started: set[str] = set()
        pending = list(components)
        waves: list[list[Component]] = []
        while pending:
            wave = [
                c for c in pending if all(d in started or d not in chosen for d in c.depends_on)
            ]
            if not wave:
                raise RuntimeError("components depend on each other in a cycle")
            waves.append(wave)
            started.update(c.name for c in wave)
            pending = [c for c in pending if c.name not in started]
        return waves

    def up(self, names: Iterable[str] | None = None, reporter: Reporter | None = None) -> None:
        """Start what is not running, wait until each part is usable, provision it. Idempotent."""
        reporter = reporter or SilentReporter()
        self._settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Paused while `up` starts parts itself: both would start a crashed part otherwise.
        self.stop_supervisor()
        try:
            if self._settings.replicas:
                self._plan.save(self._settings.state_dir)
            self._stop_surplus()
            self._check_ports(self.select(names))
            for wave in self._waves(self.select(names)):
                with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                    results = [pool.submit(self._bring_up, c, reporter) for c in wave]
                    for result in results:
                        result.result()
        finally:
            # Also after a failure: what runs is supervised, and a part that failed to start
            # is retried with backoff (its error shows in `careplan status`).
            self.start_supervisor()

    def _check_ports(self, components: Sequence[Component]) -> None:
        """Before anything starts: the ports of the parts that will be started are free, and
        none of them is one the kernel may hand to an outgoing connection meanwhile."""
        ephemeral = ephemeral_ports()
        exposed = sorted(
            {
                port
                for component in components
                if not component.external(self._settings)
                for port in component.ports(self._settings)
                if port in ephemeral
            }
        )
        if exposed:
            raise EphemeralPortsError(exposed, ephemeral)
        conflicts = [
            PortConflict(component.name, port, holder_of(port))
            for component in components
            if not component.external(self._settings)
            and running_process(self.files(component.name)) is None
            for port in component.ports(self._settings)
            if is_taken(port)
        ]
        if conflicts:
            raise PortsTakenError(conflicts)

    def start(self, component: Component, *, cancelled: Callable[[], bool] = bool) -> None:
        """Start one part as `up` does (prepare, spawn, wait until usable, provision)."""
        self._bring_up(component, SilentReporter(), cancelled)

    def _bring_up(
        self, component: Component, reporter: Reporter, cancelled: Callable[[], bool] = bool
    ) -> None:
        began = time.monotonic()
        settings = self._settings
        files = self.files(component.name)
        if not component.external(settings) and running_process(files) is None:
            reporter.starting(component.name, "preparing")
            try:
                component.prepare(settings)
            except Exception as error:
                raise ComponentFailedError(
                    component.name, f"could not be prepared: {error}", tail(files.log_file)
                ) from error
            reporter.starting(component.name, "starting")
            files.pid_file.unlink(missing_ok=True)
            spawn(
                component.command(settings),
                files,
                env=self._environment(component),
                user=component.run_as(settings),
            )
        reporter.starting(component.name, "waiting until usable")
        self._wait_ready(component, files, cancelled)
        reporter.starting(component.name, "provisioning")
        component.provision(settings)
        reporter.ready(component.name, component.address(settings), time.monotonic() - began)

    def _environment(self, component: Component) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self._settings.service_environment())
        # The replica's stable identity: its Kafka consumers rejoin their groups as the same
        # static members after a restart (eventing.membership).
        env["CONSUMER_INSTANCE_ID"] = component.instance_id
        env.update(component.environment(self._settings))
        return env

    def _wait_ready(
        self, component: Component, files: ProcessFiles, cancelled: Callable[[], bool] = bool
    ) -> None:
        deadline = time.monotonic() + component.ready_timeout
        reason = "no answer yet"
        while time.monotonic() < deadline:
            if cancelled():
                raise ComponentFailedError(component.name, "start cancelled", [])
            if not component.external(self._settings) and running_process(files) is None:
                raise ComponentFailedError(
                    component.name, "exited while starting", tail(files.log_file)
                )
            try:
                component.ready(self._settings)
                return
            except NotReadyError as error:
                reason = str(error)
            time.sleep(0.25)
        raise ComponentFailedError(
            component.name,
            f"not usable after {component.ready_timeout:.0f} s: {reason}",
            tail(files.log_file),
        )

    def down(self, names: Iterable[str] | None = None) -> list[str]:
        """Stop the named components (all by default), dependants first; their dependencies
        keep running. Returns the names that were running."""
        self.stop_supervisor()
        try:
            return self._down(names)
        finally:
            if names is None:
                state_file(self._settings.state_dir).unlink(missing_ok=True)
                ReplicaPlan.file(self._settings.state_dir).unlink(missing_ok=True)
            elif any(self.files(c.name).pid_file.exists() for c in self.components):
                self.start_supervisor()

    def _down(self, names: Iterable[str] | None) -> list[str]:
        chosen = self.components
        stopped: list[str] = []
        if names is not None:
            wanted = self._named(names)
            chosen = [c for c in chosen if c.name in wanted]
        else:
            stopped.extend(self._stop_surplus())
        for wave in reversed(self._waves(chosen)):
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                outcomes = pool.map(
                    lambda c: (
                        c.name,
                        terminate(self.files(c.name), sig=c.stop_signal, timeout=20),
                    ),
                    wave,
                )
                stopped.extend(name for name, was_running in outcomes if was_running)
        return stopped

    def _stop_surplus(self) -> list[str]:
        """Stop replicas beyond the plan (an earlier `up` ran more): scaling down."""
        names = surplus(self._settings.state_dir, self._parts, self._plan)
        for name in names:
            terminate(self.files(name), sig=signal.SIGTERM, timeout=20)
        return names

    # --- the supervisor ---------------------------------------------------------------------

    def _supervisor_files(self) -> ProcessFiles:
        return self.files(SUPERVISOR)

    def supervisor_process(self) -> int | None:
        """The running supervisor's pid, if one runs."""
        process = running_process(self._supervisor_files())
        return process.pid if process else None

    def start_supervisor(self) -> None:
        """Start the supervisor if there is a catalog to supervise and something to watch."""
        if self._supervisor_catalog is None or self.supervisor_process() is not None:
            return
        if not any(self.files(c.name).pid_file.exists() for c in self.components):
            return
        env = {**os.environ, **self._settings.as_environment()}
        for name in self._settings.unset_environment():
            env.pop(name, None)
        spawn(
            [sys.executable, "-m", "devstack.supervisor", "--catalog", self._supervisor_catalog],
            self._supervisor_files(),
            env=env,
        )

    def stop_supervisor(self) -> bool:
        """Stop the supervisor (waiting for it, so that it starts nothing afterwards)."""
        return terminate(
            self._supervisor_files(), sig=signal.SIGTERM, timeout=35, own_group_only=True
        )

    # --- status --------------------------------------------------------------------------------

    def status(self) -> list[ComponentStatus]:
        supervised = SupervisorState.load(state_file(self._settings.state_dir))
        with ThreadPoolExecutor(max_workers=max(1, len(self._components))) as pool:
            return list(
                pool.map(lambda c: self._status_of(c, supervised), self._components.values())
            )

    def _status_of(self, component: Component, supervised: SupervisorState) -> ComponentStatus:
        settings = self._settings
        address = component.address(settings)
        if component.external(settings):
            return ComponentStatus(
                component.name, self._probe(component) or "external", None, address
            )
        files = self.files(component.name)
        state = state_of(files)
        if state is ProcessState.STOPPED:
            return ComponentStatus(component.name, "stopped", None, address)
        record = supervised.parts.get(component.name)
        restarts = record.restarts if record else 0
        last_error = record.last_error if record else ""
        if state is ProcessState.CRASHED or (
            record is not None and record.state is not PartState.RUNNING
        ):
            being_restarted = record is not None and record.state is not PartState.RUNNING
            if being_restarted and self.supervisor_process() is not None:
                return ComponentStatus(
                    component.name, "restarting", None, address, last_error, restarts
                )
            if state is ProcessState.CRASHED:
                detail = last_error_line(tail(files.log_file, 200))
                return ComponentStatus(component.name, "crashed", None, address, detail, restarts)
        process = running_process(files)
        return ComponentStatus(
            component.name,
            self._probe(component) or "ready",
            process.pid if process else None,
            address,
            last_error if restarts else "",
            restarts,
        )

    def _probe(self, component: Component) -> str | None:
        try:
            component.ready(self._settings)
        except NotReadyError as error:
            return f"not ready: {error}"[:80]
        except Exception as error:
            return f"not ready: {error}"[:80]
        return None
