"""How long a restarted consumer takes to consume again, per group membership, on a real broker.

    uv run python bench/consumer_restart.py --bootstrap-servers 127.0.0.1:9392 --runs 3

It starts nothing: point it at a broker (`careplan up --only kafka`). It creates a fresh
6-partition topic, keeps producing a record every 20 ms to it, and runs consumers as child
processes (this file with ``--child``) that print JSON lines on assignment and on their first
record. Per membership it measures:

- ``kill``: SIGKILL the only consumer, start it again at once; seconds from the new process's
  start to its first record (what an OOM kill or a lost pod costs);
- ``rolling``: SIGTERM (``close()``) the only consumer, start it again at once; seconds from
  the new start to its first record (a rolling restart);
- ``handover``: two consumers, SIGTERM one; seconds until the other holds all 6 partitions
  (a scale-down, or a replica that does not come back).

The memberships: ``classic-dynamic`` (librdkafka's defaults: no instance id, 45 s session),
``classic-static`` (``eventing.membership.fast_resume_config``: instance id, 6 s session),
``kip848-dynamic`` (``group.protocol=consumer``) and ``kip848-static`` (plus an instance id).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
Event = dict[str, Any]


def membership_config(name: str, group: str, instance: str) -> dict[str, str]:
    if name == "classic-dynamic":
        return {"partition.assignment.strategy": "cooperative-sticky"}
    if name in ("classic-static", "classic-dynamic-6s"):
        if name == "classic-static":
            os.environ["CONSUMER_INSTANCE_ID"] = instance
        from eventing.membership import fast_resume_config

        return {"partition.assignment.strategy": "cooperative-sticky", **fast_resume_config(group)}
    if name == "kip848-dynamic":
        return {"group.protocol": "consumer"}
    if name == "kip848-static":
        return {"group.protocol": "consumer", "group.instance.id": f"{instance}/{group}"}
    raise ValueError(name)


# --- the child: one consumer -------------------------------------------------------------


def child(bootstrap: str, topic: str, group: str, membership: str, instance: str) -> None:
    def emit(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)

    def on_error(error: KafkaError) -> None:
        if error.fatal():
            emit("fatal", error=error.str())

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **membership_config(membership, group, instance),
            "error_cb": on_error,
        }
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    # Every membership here rebalances incrementally: the callbacks name what changes.
    held: set[int] = set()

    def on_assign(_: Consumer, partitions: list[Any]) -> None:
        held.update(p.partition for p in partitions)
        emit("assigned", partitions=len(held))

    def on_revoke(_: Consumer, partitions: list[Any]) -> None:
        held.difference_update(p.partition for p in partitions)
        emit("revoked", partitions=len(held))

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    first = True
    while not stop.is_set():
        messages = [m for m in consumer.consume(100, 0.1) if not m.error()]
        if messages:
            if first:
                emit("first")
                first = False
            # A rebalance in progress refuses the commit: the next batch's commit covers it.
            with contextlib.suppress(KafkaException):
                consumer.commit(asynchronous=False)
    consumer.close()
    emit("closed")


# --- the parent -----------------------------------------------------------------------------


class Child:
    def __init__(self, args: argparse.Namespace, topic: str, group: str, instance: str) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.started = time.time()
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                args.bootstrap_servers,
                topic,
                group,
                args.membership_now,
                instance,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, accept: Callable[[Event], bool], timeout: float = 120) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise NoResumeError(f"nothing within {timeout:.0f} s") from None
            if event["event"] == "fatal":
                raise NoResumeError(f"fatal: {event['error']}")
            if accept(event):
                return event

    def signal(self, sig: signal.Signals) -> float:
        sent = time.time()
        self.process.send_signal(sig)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return sent


class NoResumeError(Exception):
    """The consumer never got where the scenario waits for (the message says why)."""


class Children:
    """The scenario's consumers, all killed when it ends, however it ends."""

    def __init__(self, args: argparse.Namespace, topic: str, group: str) -> None:
        self._args, self._topic, self._group = args, topic, group
        self._started: list[Child] = []

    def start(self, instance: str) -> Child:
        started = Child(self._args, self._topic, self._group, instance)
        self._started.append(started)
        return started

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_: object) -> None:
        for started in self._started:
            if started.process.poll() is None:
                started.process.kill()
                started.process.wait()


def _first(event: Event) -> bool:
    return bool(event["event"] == "first")


def _holds_all(event: Event) -> bool:
    return bool(event["event"] == "assigned" and event["partitions"] == PARTITIONS)


def restart(args: argparse.Namespace, topic: str, sig: signal.Signals) -> float:
    with Children(args, topic, f"bench-restart-{uuid.uuid4().hex[:8]}") as children:
        first = children.start("replica-0")
        first.wait_for(_first)
        time.sleep(1)  # a steady member: offsets committed, heartbeats flowing
        first.signal(sig)
        second = children.start("replica-0")
        resumed = second.wait_for(_first)
        return float(resumed["t"]) - second.started


def handover(args: argparse.Namespace, topic: str) -> float:
    with Children(args, topic, f"bench-handover-{uuid.uuid4().hex[:8]}") as children:
        leaving = children.start("replica-0")
        leaving.wait_for(_first)
        staying = children.start("replica-1")
        staying.wait_for(lambda e: e["event"] == "assigned" and 0 < e["partitions"] < PARTITIONS)
        time.sleep(1)
        sent = leaving.signal(signal.SIGTERM)
        took_over = staying.wait_for(_holds_all)
        return float(took_over["t"]) - sent


def produce_forever(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    n = 0
    while not stop.is_set():
        producer.produce(topic, key=str(n).encode(), value=b"x")
        producer.poll(0)
        n += 1
        time.sleep(0.02)
    producer.flush(5)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--membership",
        action="append",
        choices=[
            "classic-dynamic",
            "classic-dynamic-6s",
            "classic-static",
            "kip848-dynamic",
            "kip848-static",
        ],
    )
    parser.add_argument("--scenario", action="append", choices=["kill", "rolling", "handover"])
    args = parser.parse_args()
    memberships = args.membership or [
        "classic-dynamic",
        "classic-dynamic-6s",
        "classic-static",
        "kip848-dynamic",
        "kip848-static",
    ]
    scenarios = args.scenario or ["kill", "rolling", "handover"]
    topic = f"bench.restart.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap_servers})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result()
    stop = threading.Event()
    threading.Thread(
        target=produce_forever, args=(args.bootstrap_servers, topic, stop), daemon=True
    ).start()
    try:
        for membership in memberships:
            args.membership_now = membership
            for scenario in scenarios:
                figures = []
                try:
                    for _ in range(args.runs):
                        if scenario == "kill":
                            figures.append(restart(args, topic, signal.SIGKILL))
                        elif scenario == "rolling":
                            figures.append(restart(args, topic, signal.SIGTERM))
                        else:
                            figures.append(handover(args, topic))
                except NoResumeError as error:
                    print(f"{membership:18} {scenario:9} did not resume: {error}", flush=True)
                    continue
                print(
                    f"{membership:18} {scenario:9} median {statistics.median(figures):6.2f} s"
                    f"  runs {', '.join(f'{f:.2f}' for f in figures)}",
                    flush=True,
                )
    finally:
        stop.set()
        admin.delete_topics([topic])


if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path: keep it out of imports.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    main()
