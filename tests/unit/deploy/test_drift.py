"""Local and cloud cannot drift: topics, deployables, images and ports come from one place each."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from contract.topics import CONTRACT_TOPICS, DEAD_LETTER_SUFFIX, all_topics
from devstack import catalog
from devstack.settings import DevstackSettings
from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.terraform import functions, locals_
from tests.unit.deploy.test_compose import resolved as compose
from tests.unit.deploy.test_images import resolved_target
from tests.unit.deploy.tools import load_k8s_script

# The deployables, as the launcher declares them: Kubernetes Deployment / compose service name ->
# Python package (its target in docker-bake.hcl). The Lambda is the one the local runner plays.
LONG_RUNNING = {
    component.name: list(component.command(DevstackSettings()))[-1]
    for component in catalog.SERVICES
    if component not in (catalog.CLINIC_OPERATIONS, catalog.PATIENT_NOTIFICATIONS)
}
LAMBDA = {
    catalog.CLINIC_OPERATIONS.name: catalog.LAMBDA_HANDLER.split(".")[0],
    catalog.PATIENT_NOTIFICATIONS.name: catalog.NOTIFICATIONS_HANDLER.split(".")[0],
}


def load_generator() -> ModuleType:
    return load_k8s_script("gen_topics")


# --- topics ----------------------------------------------------------------------------------


def test_every_contract_topic_is_a_kafka_topic(with_strimzi: Rendered) -> None:
    topics = {t["spec"]["topicName"]: t for t in with_strimzi.of_kind("KafkaTopic")}
    assert set(topics) == {spec.name for spec in all_topics()}
    assert {spec.name for spec in CONTRACT_TOPICS} < set(topics)
    for spec in all_topics():
        config = topics[spec.name]["spec"]["config"]
        assert (config["cleanup.policy"] == "compact") is spec.compacted, spec.name
        assert topics[spec.name]["metadata"]["labels"]["strimzi.io/cluster"] == "careplan"
    assert any(name.endswith(DEAD_LETTER_SUFFIX) for name in topics)


def test_topics_have_the_partitions_the_launcher_creates(with_strimzi: Rendered) -> None:
    partitions = DevstackSettings().topic_partitions
    for topic in with_strimzi.of_kind("KafkaTopic"):
        assert topic["spec"]["partitions"] == partitions, topic["spec"]["topicName"]


def test_the_msk_topics_job_creates_the_same_topics_as_strimzi(
    msk: Rendered, eks: Rendered
) -> None:
    script = msk.one("Job", "kafka-topics")["spec"]["template"]["spec"]["containers"][0]["command"][
        -1
    ]
    created = dict(re.findall(r"--topic (\S+) (.*)", script))
    assert set(created) == {spec.name for spec in all_topics()}
    for topic in eks.of_kind("KafkaTopic"):
        options = created[topic["spec"]["topicName"]]
        assert f"--partitions {topic['spec']['partitions']} " in options
        assert f"--replication-factor {topic['spec']['replicas']} " in options
        for key, value in topic["spec"]["config"].items():
            assert f"--config {key}={value}" in options


def test_checked_in_topic_manifests_are_what_the_generator_writes() -> None:
    generator = load_generator()
    for path, wanted in generator.generated_files().items():
        assert path.read_text(encoding="utf-8") == wanted, (
            f"{path} is stale: run uv run python deploy/k8s/gen_topics.py"
        )
    assert generator.main(["--check"]) == 0


def test_the_generator_check_fails_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = load_generator()
    stale = tmp_path / "topics.yaml"
    stale.write_text(
        generator.render_all().replace("careplan.bookings.insured\n", "careplan.bookings.x\n")
    )
    monkeypatch.setattr(generator, "TOPICS_FILE", stale)
    assert generator.main(["--check"]) == 1


def test_the_kafka_cluster_matches_the_launcher_kafka_version(
    with_strimzi: Rendered, msk: Rendered
) -> None:
    from devstack.settings import KAFKA_VERSION

    (kafka,) = with_strimzi.of_kind("Kafka")
    assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    job = msk.one("Job", "kafka-topics")
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    )


# --- deployables -----------------------------------------------------------------------------


def test_every_long_running_deployable_is_a_deployment(rendered: Rendered) -> None:
    assert {d["metadata"]["name"] for d in rendered.of_kind("Deployment")} == set(LONG_RUNNING)


def test_every_service_of_the_launcher_is_deployed(rendered: Rendered) -> None:
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    settings = DevstackSettings()
    launcher_services = [c for c in catalog.platform_components() if c.tier == "service"]
    assert launcher_services, "the launcher declares no service"
    for component in launcher_services:
        if component.name in LAMBDA:
            function = functions()[LAMBDA[component.name]].resource("aws_lambda_function")
            assert function["handler"].startswith(f"{LAMBDA[component.name]}.")
            continue
        assert component.name in deployments, f"{component.name} runs locally but has no Deployment"
        assert component.name in LONG_RUNNING
        module = list(component.command(settings))[-1]
        assert resolved_target(component.name)["args"]["APP_MODULE"] == module
        container = deployments[component.name]["spec"]["template"]["spec"]["containers"][0]
        port = component.environment(settings)["HTTP_PORT"]
        assert str(container["ports"][0]["containerPort"]) == port, component.name


def test_every_deployable_runs_in_compose_and_has_an_image_repository() -> None:
    services = compose()["services"]
    for name, package in LONG_RUNNING.items():
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert services[name]["build"]["args"]["APP_MODULE"] == package
    assert services["clinic-operations"]["command"] == ["python", "-m", "devstack.lambda_runner"]
    images = set(re.findall(r'"([a-z-]+)"', str(locals_()["service_images"]))) or set(
        locals_()["service_images"]
    )
    assert images == set(LONG_RUNNING)
