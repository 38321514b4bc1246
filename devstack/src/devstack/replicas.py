"""How many replicas of each part `careplan up` runs, and what each replica is called.

    careplan up --replicas 2                              # every service twice
    careplan up --replicas 2 --replicas care-plan=3       # care-plan 3 times, the others twice

The plan is ``CAREPLAN_REPLICAS`` (``2``, ``care-plan=3,insurance-processor=2`` or both); `up`
writes it to ``<state dir>/replicas`` so that a later `up`, `status`, `down` and the supervisor
use the same plan without being told again, until `down` stops everything.

Replica 0 of a part keeps the part's name (``care-plan``: pid file, log, `careplan logs
care-plan`), replica ``i`` is ``care-plan-<i>``; each replica's Kafka identity is
``<part>-<i>`` (``CONSUMER_INSTANCE_ID``), so a restarted replica rejoins its groups as the same
static member and takes back its own partitions. Infrastructure runs once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.component import Component

# A replica's HTTP port is the part's port plus this per index (care-plan 8080, 8180, 8280),
# clear of the neighbouring parts' ports (8081, 8082, 8090) for up to MAX_REPLICAS.
PORT_STEP = 100
# Six partitions per topic: a seventh consumer would sit idle; nine keeps the ports below 9000.
MAX_REPLICAS = 9

_ENTRY = re.compile(r"^(?:(?P<part>[a-z][a-z0-9-]*)=)?(?P<count>\d+)$")


class ReplicaPlanError(ValueError):
    """The plan cannot be read, or asks for replicas of a part that runs once."""


def replica_name(part: str, index: int) -> str:
    return part if index == 0 else f"{part}-{index}"


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    default: int = 1
    parts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ReplicaPlan:
        default, parts = 1, {}
        for entry in (item.strip() for item in text.split(",")):
            if not entry:
                continue
            match = _ENTRY.match(entry)
            if match is None:
                raise ReplicaPlanError(f"{entry!r}: expected N or <part>=N")
            count = int(match["count"])
            if not 1 <= count <= MAX_REPLICAS:
                raise ReplicaPlanError(f"{entry!r}: between 1 and {MAX_REPLICAS} replicas")
            if match["part"]:
                parts[match["part"]] = count
            else:
                default = count
        return cls(default, parts)

    def render(self) -> str:
        return ",".join([str(self.default), *(f"{p}={n}" for p, n in sorted(self.parts.items()))])

    def count(self, component: Component) -> int:
        if component.replicate is None:
            return 1
        return self.parts.get(component.name, self.default)

    def check(self, components: Sequence[Component]) -> None:
        known = {c.name: c for c in components}
        for part, count in self.parts.items():
            if part not in known:
                raise ReplicaPlanError(f"unknown part {part!r}")
            if count > 1 and known[part].replicate is None:
                raise ReplicaPlanError(f"{part} runs once (it is not replicated)")

    @staticmethod
    def file(state_dir: Path) -> Path:
        return state_dir / "replicas"

    @classmethod
    def load(cls, state_dir: Path) -> ReplicaPlan:
        try:
            return cls.parse(cls.file(state_dir).read_text())
        except (OSError, ReplicaPlanError):
            return cls()

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.file(state_dir).write_text(self.render() + "\n")


def expand(components: Iterable[Component], plan: ReplicaPlan) -> list[Component]:
    """Every replica of every part, replica 0 (the declaration itself) first."""
    replicas: list[Component] = []
    for component in components:
        replicas.append(component)
        if component.replicate is not None:
            replicas.extend(component.replicate(i) for i in range(1, plan.count(component)))
    return replicas


def surplus(state_dir: Path, components: Iterable[Component], plan: ReplicaPlan) -> list[str]:
    """Replicas that have a pid file but are beyond the plan (left by an earlier, larger
    `up --replicas`): `up` stops them, so that scaling down is `up` with a smaller plan."""
    found = []
    for component in components:
        if component.replicate is None or component.replica_of is not None:
            continue
        pattern = re.compile(rf"^{re.escape(component.name)}-(\d+)$")
        for pid_file in (state_dir / "pids").glob(f"{component.name}-*.pid"):
            match = pattern.match(pid_file.stem)
            if match and int(match[1]) >= plan.count(component):
                found.append(pid_file.stem)
    return sorted(found)
