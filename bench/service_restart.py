"""Kill a running service with SIGKILL and time until its consumer group consumes again.

    CAREPLAN_STATE_DIR=.careplan/helper2 CAREPLAN_PORT_OFFSET=300 \\
        uv run python bench/service_restart.py insurance-processor eventbridge-sink --runs 3

Against a platform `careplan up` started (with its supervisor): per run it SIGKILLs the part,
puts one record on every partition of the topic the part's group reads (a record that is not a
CloudEvent: every consumer settles it, by parking it in ``<topic>.dlt``, and commits past it),
and waits until the group's committed offsets are past those records on every partition. It
prints, per part: ``restart`` = from the new process's start to that moment (what the issue's
target of 5 s is about), and ``kill`` = from the SIGKILL (adds the supervisor's noticing, its
1 s backoff and the new process's own start-up).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from confluent_kafka import Consumer, Producer, TopicPartition

from contract import topics
from devstack.catalog import platform_components
from devstack.platform import Platform
from devstack.processes import running_process
from devstack.settings import DevstackSettings

# The part -> (a consumer group it runs, the topic that group reads).
GROUPS = {
    "insurance-processor": ("insurance-processor", topics.CAREPLAN_BOOKINGS),
    "eventbridge-sink": ("eventbridge-sink", topics.CAREPLAN_BOOKINGS),
    "care-plan": ("care-plan.booking-replies", topics.BOOKING_REPLIES),
}


def _records_on_every_partition(producer: Producer, topic: str, partitions: int) -> dict[int, int]:
    offsets: dict[int, int] = {}

    def delivered(error: object, message: object) -> None:
        if error is None:
            offsets[message.partition()] = message.offset()  # type: ignore[attr-defined]

    for partition in range(partitions):
        producer.produce(
            topic,
            value=b"not a cloudevent: bench/service_restart.py",
            key=uuid.uuid4().hex.encode(),
            partition=partition,
            headers=[("x-careplan-test", b"deliberately-invalid")],
            on_delivery=delivered,
        )
    producer.flush(10)
    return offsets


def _committed_past(checker: Consumer, topic: str, offsets: dict[int, int]) -> bool:
    committed = checker.committed([TopicPartition(topic, p) for p in offsets], timeout=5)
    return all(tp.offset > offsets[tp.partition] for tp in committed)


def measure(platform: Platform, settings: DevstackSettings, part: str) -> tuple[float, float]:
    group, topic = GROUPS[part]
    files = platform.files(part)
    victim = running_process(files)
    if victim is None:
        raise SystemExit(f"{part} is not running")
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    checker = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        killed = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        offsets = _records_on_every_partition(producer, topic, settings.topic_partitions)
        deadline = time.monotonic() + 120
        while not _committed_past(checker, topic, offsets):
            if time.monotonic() > deadline:
                raise SystemExit(f"{part}: nothing consumed within 120 s of the kill")
            time.sleep(0.05)
        consumed = time.time()
        replacement = running_process(files)
        if replacement is None or replacement.pid == victim.pid:
            raise SystemExit(f"{part}: consumed, but not by a restarted process")
        return consumed - replacement.create_time(), consumed - killed
    finally:
        checker.close()


def _wait_ready(platform: Platform, part: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if {row.name: row.state for row in platform.status()}[part] == "ready":
            return
        time.sleep(0.5)
    raise SystemExit(f"{part} is not ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=sorted(GROUPS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = DevstackSettings()
    platform = Platform(settings, platform_components())
    if platform.supervisor_process() is None:
        raise SystemExit("no supervisor runs: start the platform with `careplan up`")
    for part in args.parts:
        restarts, kills = [], []
        for _ in range(args.runs):
            _wait_ready(platform, part)
            time.sleep(2)  # steady: joined, assigned, offsets committed
            restart, kill = measure(platform, settings, part)
            restarts.append(restart)
            kills.append(kill)
        print(
            f"{part:20} restart->consuming median {statistics.median(restarts):5.2f} s "
            f"({', '.join(f'{r:.2f}' for r in restarts)}); "
            f"kill->consuming median {statistics.median(kills):5.2f} s "
            f"({', '.join(f'{k:.2f}' for k in kills)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
