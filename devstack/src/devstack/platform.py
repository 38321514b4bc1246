"""Starts, checks and stops the components of the platform in dependency order."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from devstack.component import Component, NotReadyError
from devstack.processes import (
    ProcessFiles,
    ProcessState,
    running_process,
    spawn,
    state_of,
    tail,
    terminate,
)
from devstack.settings import DevstackSettings


class ComponentFailedError(RuntimeError):
    def __init__(self, component: str, reason: str, log_tail: Sequence[str]) -> None:
        details = "\n".join(f"    {line}" for line in log_tail)
        super().__init__(
            f"{component}: {reason}\n{details}" if details else f"{component}: {reason}"
        )
        self.component = component


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
    state: str  # running | ready | external | stopped | crashed | not ready
    pid: int | None
    address: str
    detail: str = ""


class Platform:
    def __init__(self, settings: DevstackSettings, components: Sequence[Component]) -> None:
        self._settings = settings
        self._components = {component.name: component for component in components}

    @property
    def components(self) -> list[Component]:
        return list(self._components.values())

    def files(self, name: str) -> ProcessFiles:
        return ProcessFiles.under(self._settings.state_dir, name)

    def select(self, names: Iterable[str] | None) -> list[Component]:
        """The named components and everything they depend on, in start order."""
        wanted = set(names) if names is not None else set(self._components)
        unknown = wanted - set(self._components)
        if unknown:
            raise KeyError(f"unknown components: {', '.join(sorted(unknown))}")
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
        for wave in self._waves(self.select(names)):
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                results = [pool.submit(self._bring_up, c, reporter) for c in wave]
                for result in results:
                    result.result()

    def _bring_up(self, component: Component, reporter: Reporter) -> None:
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
        self._wait_ready(component, files)
        reporter.starting(component.name, "provisioning")
        component.provision(settings)
        reporter.ready(component.name, component.address(settings), time.monotonic() - began)

    def _environment(self, component: Component) -> dict[str, str]:
        import os

        env = dict(os.environ)
        env.update(self._settings.service_environment())
        env.update(component.environment(self._settings))
        return env

    def _wait_ready(self, component: Component, files: ProcessFiles) -> None:
        deadline = time.monotonic() + component.ready_timeout
        reason = "no answer yet"
        while time.monotonic() < deadline:
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
        chosen = self.components
        if names is not None:
            wanted = set(names)
            unknown = wanted - set(self._components)
            if unknown:
                raise KeyError(f"unknown components: {', '.join(sorted(unknown))}")
            chosen = [c for c in chosen if c.name in wanted]
        stopped: list[str] = []
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

    def status(self) -> list[ComponentStatus]:
        with ThreadPoolExecutor(max_workers=max(1, len(self._components))) as pool:
            return list(pool.map(self._status_of, self._components.values()))

    def _status_of(self, component: Component) -> ComponentStatus:
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
        if state is ProcessState.CRASHED:
            last = tail(files.log_file, 1)
            return ComponentStatus(
                component.name, "crashed", None, address, last[0] if last else ""
            )
        process = running_process(files)
        return ComponentStatus(
            component.name,
            self._probe(component) or "ready",
            process.pid if process else None,
            address,
        )

    def _probe(self, component: Component) -> str | None:
        try:
            component.ready(self._settings)
        except NotReadyError as error:
            return f"not ready: {error}"[:80]
        except Exception as error:
            return f"not ready: {error}"[:80]
        return None
