"""The kill schedule of ``bench/chaos.py`` and how long each killed part takes to consume again.

A kill is ``SIGKILL`` to the part's whole process group (the part and its children, as an OOM
kill takes a container), then the supervisor `careplan up` left running restarts it. Per kill:

- ``start``: the replacement process's start time (from its pid file);
- ``consuming``: for a Kafka consumer, the first moment its group's committed offset moved on
  a partition the restarted member (its static ``group.instance.id``) holds; for Clinic
  Operations, its ``polling`` line; for Kafka and PostgreSQL, the moment every consumer group
  that depends on them committed again. Under the steady load a record reaches each partition
  about every second, which bounds what this adds to the true figure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psutil
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from contract import topics
from devstack.component import Component
from devstack.platform import Platform
from devstack.processes import running_process, tail
from devstack.settings import DevstackSettings
from eventing.settings import RECONNECT_CONFIG

# part -> the consumer group whose progress says it consumes, and the topic it reads.
GROUPS: dict[str, tuple[str, str]] = {
    "provider-schedule": ("provider-schedule", topics.BOOKING_REQUESTS),
    "care-plan": ("care-plan.booking-replies", topics.BOOKING_REPLIES),
    "insurance-processor": ("insurance-processor", topics.CAREPLAN_BOOKINGS),
    "eventbridge-sink": ("eventbridge-sink", topics.CAREPLAN_BOOKINGS),
}
# Infrastructure -> the parts whose consumers stall while it is down.
DEPENDANTS: dict[str, tuple[str, ...]] = {
    "kafka": tuple(GROUPS),
    "postgres": ("provider-schedule", "care-plan"),
}
WAIT_SECONDS = 120.0


@dataclass(slots=True)
class Restart:
    target: str
    killed_at: float
    how: str = "SIGKILL"
    started_at: float | None = None
    consuming_at: float | None = None

    @property
    def start_to_consuming(self) -> float | None:
        if self.started_at is None or self.consuming_at is None:
            return None
        return max(0.0, self.consuming_at - self.started_at)

    @property
    def kill_to_consuming(self) -> float | None:
        return None if self.consuming_at is None else self.consuming_at - self.killed_at


def schedule(platform: Platform, *, small: bool) -> list[str]:
    """Every replica of every part once (both services, the processor, the sink, Clinic
    Operations, Kafka, PostgreSQL), the infrastructure between the services so that services
    are killed after it came back too; ``small`` kills one replica of each part instead."""

    def replicas(part: str) -> list[str]:
        names = [c.name for c in platform.replicas(part)]
        return names[:1] if small else names

    services = ("provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink",
                "clinic-operations")  # fmt: skip
    first = [r for part in services for r in replicas(part)[:1]]
    rest = [r for part in services for r in replicas(part)[1:]]
    return [*first[:3], "kafka", *first[3:], "postgres", *rest]


class ProgressProbe:
    """Committed offsets of the platform's consumer groups, and who holds which partition."""

    def __init__(self, settings: DevstackSettings) -> None:
        self._settings = settings
        # The platform's own reconnect backoff (at most 1 s): with librdkafka's default (up to
        # 10 s) the probe itself came back late after a broker restart and added seconds to
        # the Kafka row that no consumer of the platform spent.
        self._client_config = {
            "bootstrap.servers": settings.bootstrap_servers,
            "log_level": 0,
            **RECONNECT_CONFIG,
        }
        self._admin = AdminClient(self._client_config)
        self._checkers: dict[str, Consumer] = {}

    def _checker(self, group: str) -> Consumer:
        if group not in self._checkers:
            self._checkers[group] = Consumer(
                {**self._client_config, "group.id": group, "enable.auto.commit": False}
            )
        return self._checkers[group]

    def committed(self, group: str, topic: str) -> dict[int, int] | None:
        partitions = [TopicPartition(topic, p) for p in range(self._settings.topic_partitions)]
        try:
            return {
                tp.partition: tp.offset
                for tp in self._checker(group).committed(partitions, timeout=2)
            }
        except KafkaException:
            return None

    def held_by(self, group: str, instance: str) -> set[int] | None:
        """Partitions the static member ``instance`` holds (None while it is not a member)."""
        try:
            description = self._admin.describe_consumer_groups([group])[group].result(timeout=2)
        except KafkaException:
            return None
        for member in description.members:
            if member.group_instance_id == f"{instance}/{group}":
                return {tp.partition for tp in member.assignment.topic_partitions}
        return None

    def close(self) -> None:
        for checker in self._checkers.values():
            with contextlib.suppress(RuntimeError):
                checker.close()


def rolling_schedule(platform: Platform) -> list[str]:
    """Every replica of every service once, as a rolling restart stops them: one at a time."""
    services = ("provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink",
                "clinic-operations", "patient-notifications")  # fmt: skip
    return [c.name for part in services for c in platform.replicas(part)]


def kill(
    platform: Platform, probe: ProgressProbe, target: str, how: signal.Signals = signal.SIGKILL
) -> Restart:
    """Send ``how`` to ``target``'s process group (SIGKILL: a crash; SIGTERM: a rolling restart's
    stop) and time the replacement the supervisor starts until it consumes again."""
    component = platform.component(target)
    files = platform.files(target)
    victim = running_process(files)
    if victim is None:
        raise SystemExit(f"{target} is not running: nothing to kill")
    consumer = component.part in GROUPS
    watched = [component.part] if consumer else list(DEPENDANTS.get(target, ()))
    before = {part: probe.committed(*GROUPS[part]) or {} for part in watched}
    restart = Restart(target, time.time(), how.name)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(victim.pid, how)
    deadline = time.monotonic() + WAIT_SECONDS
    if consumer:
        # What the victim committed on its way out (a stop's last commit, a transaction that
        # completed as the kill landed) is not the replacement consuming: the offsets to move
        # past are those once it is gone. (Infrastructure keeps the snapshot from before the
        # kill: with Kafka down there is nothing to read.)
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.wait(timeout=WAIT_SECONDS)
        before = {part: probe.committed(*GROUPS[part]) or before[part] for part in watched}
    while time.monotonic() < deadline and restart.started_at is None:
        replacement = running_process(files)
        if replacement is not None and replacement.pid != victim.pid:
            restart.started_at = replacement.create_time()
        time.sleep(0.05)
    if restart.started_at is None:
        return restart
    if component.part in ("clinic-operations", "patient-notifications"):
        restart.consuming_at = _polling_since(platform, component, restart.started_at, deadline)
    else:
        restart.consuming_at = _committed_again(probe, component, watched, before, deadline)
    return restart


def _committed_again(
    probe: ProgressProbe,
    component: Component,
    parts: Sequence[str],
    before: dict[str, dict[int, int]],
    deadline: float,
) -> float | None:
    """When every watched group has moved past ``before`` (on the restarted member's own
    partitions when ``component`` is a consumer, on any partition after an infrastructure kill)."""
    waiting = set(parts)
    while waiting and time.monotonic() < deadline:
        for part in list(waiting):
            group, topic = GROUPS[part]
            partitions: set[int] | None = None
            if component.part == part:
                partitions = probe.held_by(group, component.instance_id)
                if not partitions:
                    continue
            now = probe.committed(group, topic)
            if now is None:
                continue
            moved = [p for p, offset in now.items() if offset > before[part].get(p, -1001)]
            if any(partitions is None or p in partitions for p in moved):
                waiting.discard(part)
        if waiting:
            time.sleep(0.1)
    return None if waiting else time.time()


def _polling_since(
    platform: Platform, component: Component, started: float, deadline: float
) -> float | None:
    log = platform.files(component.name).log_file
    while time.monotonic() < deadline:
        for line in tail(log, 50):
            if line.endswith(" polling"):
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if stamp >= started - 0.5:
                    return stamp
        time.sleep(0.1)
    return None


def wait_ready(platform: Platform, names: Sequence[str], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {row.name: row.state for row in platform.status()}
        if all(states.get(name) in ("ready", "external") for name in names):
            return
        time.sleep(0.5)
    raise SystemExit(f"not ready after {timeout:.0f} s: {states}")
