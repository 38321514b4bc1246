from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.catalog import platform_components
from devstack.platform import Platform
from devstack.replicas import ReplicaPlan, ReplicaPlanError, surplus
from devstack.settings import DevstackSettings


def _platform(tmp_path: Path, replicas: str | None) -> Platform:
    settings = DevstackSettings(state_dir=tmp_path, replicas=replicas)
    return Platform(settings, platform_components())


def test_a_plan_reads_a_default_and_per_part_counts() -> None:
    plan = ReplicaPlan.parse("2, care-plan=3")

    assert (plan.default, plan.parts) == (2, {"care-plan": 3})
    assert ReplicaPlan.parse(plan.render()) == plan


@pytest.mark.parametrize("text", ["0", "10", "care-plan", "care-plan=x", "=2"])
def test_a_plan_out_of_bounds_or_malformed_is_refused(text: str) -> None:
    with pytest.raises(ReplicaPlanError):
        ReplicaPlan.parse(text)


def test_infrastructure_is_never_replicated(tmp_path: Path) -> None:
    with pytest.raises(ReplicaPlanError, match="kafka runs once"):
        _platform(tmp_path, "kafka=2")
    names = {c.name for c in _platform(tmp_path, "3").components}

    assert {"kafka", "postgres", "moto"} <= names
    assert not {"kafka-1", "postgres-1", "moto-1"} & names


def test_each_replica_has_its_own_name_port_state_and_consumer_identity(tmp_path: Path) -> None:
    platform = _platform(tmp_path, "1,care-plan=2,insurance-processor=2")
    settings = DevstackSettings(state_dir=tmp_path)

    [first, second] = platform.replicas("care-plan")
    assert (first.name, second.name) == ("care-plan", "care-plan-1")
    assert (first.instance_id, second.instance_id) == ("care-plan-0", "care-plan-1")
    assert first.address(settings) == "http://127.0.0.1:8080"
    assert second.address(settings) == "http://127.0.0.1:8180"
    assert second.environment(settings)["HTTP_PORT"] == "8180"
    assert platform._environment(second)["CONSUMER_INSTANCE_ID"] == "care-plan-1"
    states = {
        c.environment(settings)["STATE_DIR"] for c in platform.replicas("insurance-processor")
    }
    assert len(states) == 2, "RocksDB folders are not shared between replicas"
    assert [c.name for c in platform.replicas("provider-schedule")] == ["provider-schedule"]


def test_a_part_name_selects_all_its_replicas(tmp_path: Path) -> None:
    platform = _platform(tmp_path, "2")

    selected = {c.name for c in platform.select(["care-plan"])}

    assert selected == {"care-plan", "care-plan-1", "kafka", "postgres"}


def test_the_plan_up_stored_is_used_by_a_later_launcher_until_down(tmp_path: Path) -> None:
    ReplicaPlan.parse("2").save(tmp_path)

    later = _platform(tmp_path, None)

    assert [c.name for c in later.replicas("eventbridge-sink")] == [
        "eventbridge-sink",
        "eventbridge-sink-1",
    ]
    later.down()
    assert not ReplicaPlan.file(tmp_path).exists()
    assert len(_platform(tmp_path, None).replicas("eventbridge-sink")) == 1


def test_replicas_beyond_a_smaller_plan_are_surplus(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    for name in ("care-plan", "care-plan-1", "care-plan-2", "eventbridge-sink-1"):
        (pids / f"{name}.pid").write_text(json.dumps({"pid": 1, "started": 0}))

    found = surplus(tmp_path, platform_components(), ReplicaPlan.parse("1,care-plan=2"))

    assert found == ["care-plan-2", "eventbridge-sink-1"]
