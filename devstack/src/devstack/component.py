"""What the launcher needs to know about one process of the platform.

Adding a process to `careplan up` is one ``Component(...)`` in ``catalog.py``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from devstack.settings import DevstackSettings


class NotReadyError(Exception):
    """Raised by a readiness check while the component cannot serve yet."""


class Tier(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    SERVICE = "service"
    # A developer's view of the local platform (the event-flow page): never deployed.
    TOOL = "tool"


def _nothing(_: DevstackSettings) -> None:
    return None


def _no_env(_: DevstackSettings) -> Mapping[str, str]:
    return {}


def _never_external(_: DevstackSettings) -> bool:
    return False


def _as_invoker(_: DevstackSettings) -> str | None:
    return None


def _no_ports(_: DevstackSettings) -> Sequence[int]:
    return ()


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    tier: Tier
    command: Callable[[DevstackSettings], Sequence[str]]
    # Raises NotReadyError until the component is really usable (a round trip, not a port probe).
    ready: Callable[[DevstackSettings], None]
    address: Callable[[DevstackSettings], str]
    # Runs before the process starts: formatting storage, initdb, migrations.
    prepare: Callable[[DevstackSettings], None] = _nothing
    # Runs once it is ready: topics, databases, AWS resources. Must be idempotent.
    provision: Callable[[DevstackSettings], None] = _nothing
    environment: Callable[[DevstackSettings], Mapping[str, str]] = _no_env
    # True when the environment points at an existing instance: then it is only provisioned.
    external: Callable[[DevstackSettings], bool] = _never_external
    run_as: Callable[[DevstackSettings], str | None] = _as_invoker
    # The ports the process listens on: checked free before `up` starts anything.
    ports: Callable[[DevstackSettings], Sequence[int]] = _no_ports
    depends_on: tuple[str, ...] = ()
    # Started only when named (`careplan up --with tracing`): `up` of everything leaves it out.
    optional: bool = False
    stop_signal: signal.Signals = signal.SIGTERM
    ready_timeout: float = 90.0
    # Declares replica ``i`` (i >= 1) of this part (devstack.replicas); None: it runs once.
    replicate: Callable[[int], Component] | None = None
    # Set on replicas i >= 1: the part they replicate, and i.
    replica_of: str | None = None
    replica_index: int = 0

    @property
    def part(self) -> str:
        """The part this process is a replica of (its own name for replica 0)."""
        return self.replica_of or self.name

    @property
    def instance_id(self) -> str:
        """The replica's stable identity, ``<part>-<index>``: its consumers' static membership."""
        return f"{self.part}-{self.replica_index}"
