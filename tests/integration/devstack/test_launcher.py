"""`careplan up` / `down` / `status` semantics, checked on real processes."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from contract.topics import all_topics
from devstack.component import Component, NotReadyError, Tier
from devstack.platform import Platform
from devstack.processes import ProcessFiles, running_process
from devstack.settings import DevstackSettings

pytestmark = pytest.mark.integration


def test_every_contract_topic_and_its_dead_letter_topic_exist(
    infrastructure: DevstackSettings,
) -> None:
    admin = AdminClient({"bootstrap.servers": infrastructure.bootstrap_servers})
    topics = admin.list_topics(timeout=10).topics

    for spec in all_topics():
        assert spec.name in topics, spec.name
        assert len(topics[spec.name].partitions) == infrastructure.topic_partitions
    resource = ConfigResource("topic", "provider.availability")
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"


def test_up_twice_keeps_the_same_processes(
    test_platform: Platform, infrastructure: DevstackSettings
) -> None:
    before = {
        c.name: running_process(test_platform.files(c.name)) for c in test_platform.components
    }

    test_platform.up()

    after = {c.name: running_process(test_platform.files(c.name)) for c in test_platform.components}
    assert all(process is not None for process in before.values())
    assert {n: p.pid for n, p in after.items() if p} == {n: p.pid for n, p in before.items() if p}


def _sleeper(name: str) -> Component:
    def ready(settings: DevstackSettings) -> None:
        if running_process(ProcessFiles.under(settings.state_dir, name)) is None:
            raise NotReadyError("not running")

    return Component(
        name=name,
        tier=Tier.SERVICE,
        # A parent with a child: `down` must leave neither behind.
        command=lambda _: [
            sys.executable,
            "-c",
            "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)",
        ],
        ready=ready,
        address=lambda _: "-",
    )


def test_a_crashed_part_is_reported_and_down_leaves_no_process(tmp_path) -> None:
    settings = DevstackSettings(state_dir=tmp_path, port_offset=45000)
    platform = Platform(settings, [_sleeper("worker"), _sleeper("victim")])
    platform.up()
    victim = running_process(platform.files("victim"))
    worker = running_process(platform.files("worker"))
    assert victim is not None
    assert worker is not None
    deadline = time.monotonic() + 10
    while not worker.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker_family = [worker, *worker.children(recursive=True)]
    assert len(worker_family) == 2

    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(5)
    states = {row.name: row.state for row in platform.status()}
    assert states == {"worker": "ready", "victim": "crashed"}

    platform.down()
    _, alive = psutil.wait_procs(worker_family, timeout=5)
    assert alive == []
    assert {row.name: row.state for row in platform.status()} == {
        "worker": "stopped",
        "victim": "stopped",
    }
