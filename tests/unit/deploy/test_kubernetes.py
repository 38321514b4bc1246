"""The Kustomize base and EKS overlay render, validate against their schemas and are hardened."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.tools import DEPLOY, KUBERNETES_VERSION, run, strimzi_crds, tools_python

VALIDATOR = DEPLOY / "checks" / "validate_k8s.py"
ESO_SCHEMAS = DEPLOY / "k8s" / "crds" / "external-secrets.schema.yaml"
KEDA_SCHEMAS = DEPLOY / "k8s" / "crds" / "keda.schema.yaml"
# Each consumer group of a deployable and the topic it reads (as the services name them).
CONSUMER_GROUPS = {
    "provider-schedule": {("provider-schedule", "provider.availability.booking.requests")},
    "care-plan": {
        ("care-plan.booking-replies", "provider.availability.booking.replies"),
        ("care-plan.availability-projector", "provider.availability"),
    },
    "insurance-processor": {("insurance-processor", "careplan.bookings")},
    "eventbridge-sink": {
        ("eventbridge-sink", "careplan.bookings"),
        ("eventbridge-sink", "careplan.bookings.insured"),
    },
}


def validate(text: str) -> tuple[int, list[dict[str, Any]]]:
    result = run(
        [
            tools_python(),
            VALIDATOR,
            "--k8s-version",
            KUBERNETES_VERSION,
            "--crds",
            strimzi_crds(),
            "--extra-schemas",
            ESO_SCHEMAS,
            "--extra-schemas",
            KEDA_SCHEMAS,
        ],
        stdin=text,
    )
    assert not result.stderr.strip() or result.returncode in (0, 1), result.stderr
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def pod_specs(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in rendered.objects
        if o["kind"] in {"Deployment", "StatefulSet", "Job"}
    ]


def test_every_rendered_object_validates_against_its_schema(rendered: Rendered) -> None:
    code, reports = validate(rendered.text)
    failures = [r for r in reports if r["errors"]]
    assert not failures, json.dumps(failures, indent=2)
    assert code == 0
    assert len(reports) == len(rendered.objects)


def test_strimzi_resources_are_checked_against_the_strimzi_crds(with_strimzi: Rendered) -> None:
    _, reports = validate(with_strimzi.text)
    by_kind = {r["kind"]: r["validator"] for r in reports}
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic"):
        assert by_kind.get(kind) == "crd", f"{kind} not validated against its CRD: {by_kind}"


def test_the_validator_rejects_an_unknown_field(base: Rendered) -> None:
    broken = base.text.replace(
        "  topicName: careplan.bookings\n", "  topicNam: careplan.bookings\n"
    )
    broken = broken.replace("revisionHistoryLimit:", "revisionHistoryLimt:", 1)
    assert broken.count("topicNam:") == 1
    code, reports = validate(broken)
    failed = sorted(r["kind"] for r in reports if r["errors"])
    assert code == 1
    assert failed == ["Deployment", "KafkaTopic"]


def test_the_validator_rejects_a_kind_it_has_no_schema_for() -> None:
    code, reports = validate("apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n")
    assert code == 1
    assert reports[0]["errors"]


def test_pods_run_non_root_read_only_without_privilege_escalation(rendered: Rendered) -> None:
    for name, spec in pod_specs(rendered):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"], where


def test_services_have_health_probes_on_their_http_port(rendered: Rendered) -> None:
    for deployment in rendered.of_kind("Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        port = container["ports"][0]["containerPort"]
        http_port = {e["name"]: e.get("value") for e in container["env"]}["HTTP_PORT"]
        assert str(port) == http_port, deployment["metadata"]["name"]


def test_every_deployment_has_a_disruption_budget_and_an_autoscaler(rendered: Rendered) -> None:
    deployments = {d["metadata"]["name"] for d in rendered.of_kind("Deployment")}
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in rendered.of_kind("PodDisruptionBudget")
    }
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in rendered.of_kind("ScaledObject")}
    assert deployments <= pdbs
    assert deployments == scaled
    # KEDA owns the HorizontalPodAutoscaler of a ScaledObject: a second one would fight it.
    assert not rendered.of_kind("HorizontalPodAutoscaler")


def test_consumers_scale_on_the_lag_of_each_of_their_groups(rendered: Rendered) -> None:
    for name, groups in CONSUMER_GROUPS.items():
        spec = rendered.one("ScaledObject", name)["spec"]
        lag = {
            (t["metadata"]["consumerGroup"], t["metadata"]["topic"])
            for t in spec["triggers"]
            if t["type"] == "kafka"
        }
        assert lag == groups, name
        deployment = rendered.one("Deployment", name)["spec"]
        [config] = [
            c
            for c in rendered.of_kind("ConfigMap")
            if c["metadata"]["name"].startswith("careplan-config")
        ]
        partitions = int(config["data"]["TOPIC_PARTITIONS"])
        # At least two, so that the disruption budget leaves one; no more than partitions.
        assert 2 <= spec["minReplicaCount"] <= deployment["replicas"] <= spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= partitions, name


def test_keda_objects_are_checked_against_the_keda_subset(base: Rendered) -> None:
    code, reports = validate(base.text)
    assert code == 0
    assert {r["validator"] for r in reports if r["kind"] == "ScaledObject"} == {"keda-subset"}
    broken = base.text.replace(" lagThreshold:", " lagTreshold:", 1)
    code, reports = validate(broken)
    assert code == 1
    [failure] = [r for r in reports if r["errors"]]
    assert failure["kind"] == "ScaledObject"
    assert "lagTreshold" in str(failure["errors"])


def test_apis_that_own_a_schema_migrate_it_before_they_start(rendered: Rendered) -> None:
    for name, module in (("provider-schedule", "provider_schedule"), ("care-plan", "care_plan")):
        spec = rendered.one("Deployment", name)["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["command"] == ["python", "-m", "eventing.schema_wait", module]
        assert init["image"] == spec["containers"][0]["image"]
        # The Job migrates with the same image, as the schema's owner (test_database_roles.py).
        job = rendered.one("Job", f"{name}-migrate")["spec"]["template"]["spec"]
        (migrate,) = job["containers"]
        assert migrate["command"] == ["python", "-m", f"{module}.migrate"]
        assert migrate["image"] == init["image"]


def test_ingress_routes_the_contract_paths(rendered: Rendered) -> None:
    (ingress,) = rendered.of_kind("Ingress")
    routes = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes == {
        "/providers": "provider-schedule",
        "/patients": "care-plan",
        "/availability": "care-plan",
    }


def test_the_eks_overlays_use_rds_external_secrets_irsa_and_ecr(cloud: Rendered) -> None:
    eks = cloud
    kinds = {o["kind"] for o in eks.objects}
    assert "StatefulSet" not in kinds, "the in-cluster PostgreSQL must be gone on EKS"
    # Credentials come from External Secrets (or Strimzi's User Operator); the one Secret the
    # overlay ships is KEDA's connection settings, which a TriggerAuthentication can only read
    # from a Secret, and which holds no credential.
    shipped = {s["metadata"]["name"]: s for s in eks.of_kind("Secret")}
    assert set(shipped) == {"keda-kafka-lag-reader-settings"}, "secrets come from External Secrets"
    assert set(shipped["keda-kafka-lag-reader-settings"]["data"]) == {"sasl", "tls", "username"}
    assert {"ExternalSecret", "SecretStore"} <= kinds
    secret = eks.one("ExternalSecret", "careplan-secrets")
    assert set(secret["spec"]["target"]["template"]["data"]) == {
        "API_KEY",
        "PROVIDER_SCHEDULE_DATABASE_URL",
        "CARE_PLAN_DATABASE_URL",
        "RDS_CA_BUNDLE",
    }
    sink = eks.one("ServiceAccount", "eventbridge-sink")
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/.+",
        sink["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
    )
    for deployment in eks.of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert re.match(
                r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/careplan/", container["image"]
            )
    assert eks.one("Ingress", "careplan")["spec"]["ingressClassName"] == "alb"


def overlay_outputs() -> dict[str, str]:
    """The Terraform outputs the EKS overlay reads (its terraform-outputs.env)."""
    path = DEPLOY / "k8s" / "components" / "eks" / "terraform-outputs.env"
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def scalars(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in scalars(value)]
    if isinstance(node, list):
        return [s for value in node for s in scalars(value)]
    return [str(node)]


def without_env_references(node: Any) -> Any:
    """The node without KEDA's ``*FromEnv`` fields: their value is the name of a container's
    environment variable (``KAFKA_BOOTSTRAP_SERVERS``), not a placeholder to replace."""
    if isinstance(node, dict):
        return {k: without_env_references(v) for k, v in node.items() if not k.endswith("FromEnv")}
    if isinstance(node, list):
        return [without_env_references(value) for value in node]
    return node


def test_no_placeholder_survives_the_eks_overlays(cloud: Rendered) -> None:
    eks = cloud
    keys = set(overlay_outputs())
    leftovers = [
        value
        for obj in eks.objects
        for value in scalars(without_env_references(obj))
        if value in keys or value.split("/", 1)[0] in keys
    ]
    assert leftovers == []
    assert "terraform-outputs" not in eks.text


def test_every_terraform_output_reaches_the_rendered_overlays(cloud: Rendered) -> None:
    eks = cloud
    values = set(scalars(eks.objects))
    text = eks.text
    for key, value in overlay_outputs().items():
        assert value in values or value in text, f"{key}={value} is not used by the overlay"


def test_every_namespaced_object_lands_in_the_platform_namespace(rendered: Rendered) -> None:
    cluster_scoped = {"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding"}
    for obj in rendered.objects:
        if obj["kind"] in cluster_scoped:
            continue
        assert obj["metadata"].get("namespace") == "careplan", (
            f"{obj['kind']}/{obj['metadata']['name']}"
        )


def test_the_msk_overlay_has_no_strimzi_resource_and_creates_topics_with_a_job(
    msk: Rendered,
) -> None:
    assert not [o for o in msk.objects if o["apiVersion"].startswith("kafka.strimzi.io/")]
    job = msk.one("Job", "kafka-topics")
    container = job["spec"]["template"]["spec"]["containers"][0]
    config = msk.of_kind("ConfigMap")[0]["metadata"]["name"]
    assert container["envFrom"] == [{"configMapRef": {"name": config}}]


def test_every_folder_a_service_writes_is_a_volume(rendered: Rendered) -> None:
    """The root filesystem is read-only: each *_DIR setting must point into a mounted volume."""
    checked = 0
    for name, spec in pod_specs(rendered):
        for container in spec["containers"] + spec.get("initContainers", []):
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            for variable in container.get("env", []):
                if variable["name"].endswith("_DIR") and "value" in variable:
                    checked += 1
                    assert any(variable["value"].startswith(m) for m in mounts), (
                        f"{name}/{container['name']}: {variable['name']} is not on a volume"
                    )
    assert checked >= 1
