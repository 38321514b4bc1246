"""What deploy/README.md's EKS walkthrough relies on, each check failing on the defect that once
stopped it (issue 19): the rendered manifests, the Terraform and the walkthrough's commands."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from devstack.aws_bootstrap import load_aws_resources
from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.terraform import blocks, functions, resources
from tests.unit.deploy.tools import DEPLOY

README = DEPLOY / "README.md"
EVENTBRIDGE_README = DEPLOY / "eventbridge" / "README.md"


def walkthrough_commands() -> list[list[str]]:
    """Every command of the README's bash blocks, continuation lines joined, split as bash."""
    text = README.read_text(encoding="utf-8")
    commands: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line, posix=True))
    assert len(commands) > 40, "the README's commands were not found"
    return commands


def commands_starting(*words: str) -> list[list[str]]:
    return [c for c in walkthrough_commands() if c[: len(words)] == list(words)]


def sets(command: list[str]) -> dict[str, str]:
    """The ``--set name=value`` pairs of a helm command."""
    pairs = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
    return dict(pair.split("=", 1) for pair in pairs)


# --- 1. Strimzi brokers can write their volumes ------------------------------------------------


def test_strimzi_pods_keep_fs_group_0(with_strimzi: Rendered) -> None:
    """A securityContext in a Strimzi template replaces Strimzi's default, whose fsGroup 0 is
    what lets the Kafka image (uid 1001, gid 0) write a fresh root-owned volume."""
    kafka = with_strimzi.one("Kafka", "careplan")
    default = kafka["spec"]["kafka"].get("template", {}).get("pod", {}).get("securityContext")
    pools = with_strimzi.of_kind("KafkaNodePool")
    assert pools
    for pool in pools:
        own = pool["spec"].get("template", {}).get("pod", {}).get("securityContext")
        context = own if own is not None else default
        name = pool["metadata"]["name"]
        assert context is None or context.get("fsGroup") == 0, (
            f"KafkaNodePool {name}: pod securityContext {context} drops Strimzi's fsGroup 0"
        )


# --- 2. The AWS Load Balancer Controller starts ----------------------------------------------


def test_the_load_balancer_controller_needs_no_instance_metadata() -> None:
    (node_group,) = blocks("module")["eks"]["eks_managed_node_groups"].values()
    hop_limit = node_group["metadata_options"]["http_put_response_hop_limit"]
    (install,) = [
        c for c in commands_starting("helm", "install") if "aws-load-balancer-controller" in c
    ]
    given = sets(install)
    if hop_limit < 2:
        # Pods cannot reach IMDS: the controller must be told what it would look up there.
        assert {"region", "vpcId", "clusterName"} <= set(given), (
            f"hop limit {hop_limit} and the controller installed with only {sorted(given)}: "
            "it crash-loops with 'failed to introspect vpcID'"
        )
    outputs = set(blocks("output"))
    for value in given.values():
        for name in re.findall(r"terraform -chdir=deploy/terraform output -raw (\w+)", value):
            assert name in outputs, f"the README reads output {name}, which Terraform lacks"


def test_the_controller_is_ready_before_anything_creates_a_service() -> None:
    commands = walkthrough_commands()
    waited = commands.index(
        [
            "kubectl",
            "-n",
            "kube-system",
            "rollout",
            "status",
            "deploy/aws-load-balancer-controller",
            "--timeout=5m",
        ]
    )
    applied = next(i for i, c in enumerate(commands) if c[:3] == ["kubectl", "apply", "-k"])
    strimzi = next(
        i for i, c in enumerate(commands) if "strimzi" in c and c[:2] == ["helm", "install"]
    )
    assert waited < min(applied, strimzi)


# --- 3. terraform apply works on a new account -------------------------------------------------


def test_the_lambda_reserves_no_concurrency_by_default() -> None:
    assert functions(), "no Lambda function in deploy/terraform"
    for call in functions().values():
        function = call.resource("aws_lambda_function")
        assert function["reserved_concurrent_executions"] == "${var.lambda_reserved_concurrency}"
    default = blocks("variable")["lambda_reserved_concurrency"]["default"]
    assert default is None, (
        f"the Lambda reserves {default} executions by default: AWS rejects that on accounts "
        "whose concurrency limit is 10"
    )


# --- 5. Pods pick up a rotated database password ------------------------------------------------


def reads_secret(deployment: dict[str, Any], secret: str) -> bool:
    spec = deployment["spec"]["template"]["spec"]
    for container in spec["containers"] + spec.get("initContainers", []):
        for variable in container.get("env", []):
            if variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == secret:
                return True
        for source in container.get("envFrom", []):
            if source.get("secretRef", {}).get("name") == secret:
                return True
    return False


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)([smh])", duration)
    assert "".join(f"{n}{u}" for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def test_pods_restart_when_the_database_password_rotates(cloud: Rendered) -> None:
    secret = cloud.one("ExternalSecret", "careplan-secrets")
    refresh = seconds(secret["spec"]["refreshInterval"])
    assert refresh <= 300, f"RDS rotates the password; a refresh every {refresh} s keeps it stale"
    readers = [d for d in cloud.of_kind("Deployment") if reads_secret(d, "careplan-secrets")]
    assert {d["metadata"]["name"] for d in readers} == {"provider-schedule", "care-plan"}
    for deployment in readers:
        annotations = deployment["metadata"].get("annotations", {})
        reloaded = annotations.get("secret.reloader.stakater.com/reload", "").split(",")
        assert "careplan-secrets" in reloaded, (
            f"{deployment['metadata']['name']} reads DATABASE_URL once and is not restarted "
            "when the password rotates"
        )
    assert [c for c in commands_starting("helm", "install", "reloader") if "stakater/reloader" in c]


# --- 7. EventBridge can use the key and keeps what it cannot deliver ----------------------------


def test_eventbridge_may_use_the_key_and_parks_what_it_cannot_deliver() -> None:
    statements = resources("aws_iam_policy_document")["kms"]["statement"]
    (events,) = [
        s
        for s in statements
        if any("events.amazonaws.com" in p["identifiers"] for p in s.get("principals", []))
    ]
    missing = {"kms:DescribeKey", "kms:Decrypt"} - set(events["actions"])
    assert not missing, f"the key policy does not let EventBridge {sorted(missing)}"
    assert {"kms:GenerateDataKey", "kms:GenerateDataKey*"} & set(events["actions"])
    (target,) = resources("aws_cloudwatch_event_target").values()
    assert target.get("dead_letter_config") == [
        {"arn": "${aws_sqs_queue.eventbridge_dead_letter.arn}"}
    ], "rule targets without a dead-letter queue drop undeliverable events without a trace"
    (admits,) = resources("aws_iam_policy_document")["eventbridge_dead_letter"]["statement"]
    assert admits["actions"] == ["sqs:SendMessage"]
    assert admits["principals"] == [{"type": "Service", "identifiers": ["events.amazonaws.com"]}]
    (condition,) = admits["condition"]
    # Every rule of the platform, and only those, may park its undelivered events there.
    assert condition["variable"] == "aws:SourceArn"
    assert condition["values"] == "${[for rule in aws_cloudwatch_event_rule.this : rule.arn]}"


# --- 8. NetworkPolicies are enforced ------------------------------------------------------------


def test_the_vpc_cni_enforces_network_policies(rendered: Rendered) -> None:
    assert rendered.of_kind("NetworkPolicy"), "the manifests rely on NetworkPolicies"
    cni = blocks("module")["eks"]["cluster_addons"]["vpc-cni"]
    configuration = cni.get("configuration_values", "")
    assert re.search(r'enableNetworkPolicy\s*=\s*"true"', configuration), (
        "the VPC CNI add-on is installed without enableNetworkPolicy: NetworkPolicies are no-ops"
    )


# --- 10. The smaller ones -----------------------------------------------------------------------


def test_teardown_deletes_the_overlay_it_applied() -> None:
    applied = {c[3] for c in commands_starting("kubectl", "apply", "-k")}
    deleted = {c[3] for c in commands_starting("kubectl", "delete", "-k")}
    assert applied == {"deploy/k8s/overlays/$OVERLAY"}, applied
    assert deleted == applied, f"applied {applied}, deleted {deleted}"
    text = README.read_text(encoding="utf-8")
    for overlay in ("eks", "eks-msk"):
        assert f"export OVERLAY={overlay} " in text or f"# export OVERLAY={overlay} " in text
        assert (DEPLOY / "k8s" / "overlays" / overlay / "kustomization.yaml").is_file()


@pytest.mark.parametrize("release", ["aws-load-balancer-controller", "external-secrets",
                                     "metrics-server", "reloader", "keda", "strimzi"])  # fmt: skip
def test_every_helm_chart_is_pinned(release: str) -> None:
    installs = [c for c in commands_starting("helm", "install") if c[2] == release]
    assert len(installs) == 1, f"{release}: {installs}"
    (install,) = installs
    assert "--version" in install, f"helm install {release} without --version"
    version = install[install.index("--version") + 1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{release}: {version} is not an exact version"


# An operator's kinds in the manifests -> the helm release that serves them.
OPERATOR_OF_KIND = {
    "ScaledObject": "keda",
    "ExternalSecret": "external-secrets",
    "SecretStore": "external-secrets",
    "Kafka": "strimzi",
}


def test_every_operator_kind_the_platform_uses_is_installed_before_it_is_applied(
    rendered: Rendered,
) -> None:
    """`kubectl apply -k` fails with 'no matches for kind' when the walkthrough forgot the
    operator whose custom resources the overlay holds (KEDA's ScaledObjects once were)."""
    commands = walkthrough_commands()
    apply_at = next(i for i, c in enumerate(commands) if c[:3] == ["kubectl", "apply", "-k"])
    installed = {c[2] for c in commands[:apply_at] if c[:2] == ["helm", "install"]}
    for kind, release in OPERATOR_OF_KIND.items():
        if rendered.of_kind(kind):
            assert release in installed, f"{kind} in the manifests, but no helm install {release}"


def test_no_helm_install_goes_unpinned() -> None:
    for command in commands_starting("helm", "install"):
        assert "--version" in command, " ".join(command)


def test_the_lambda_timeout_is_the_one_documented() -> None:
    timeouts = {
        package: call.resource("aws_lambda_function")["timeout"]
        for package, call in functions().items()
    }
    assert timeouts == {
        "clinic_operations": "${floor(aws_sqs_queue.this[local.clinic_operations_queue]"
        ".visibility_timeout_seconds / 6)}",
        "patient_notifications": "${floor(aws_sqs_queue.this[local.notifications_queue]"
        ".visibility_timeout_seconds / 6)}",
    }
    # Each queue's visibility timeout is its VisibilityTimeout in queues.json, stated below.
    queue_resource = resources("aws_sqs_queue")["this"]
    assert queue_resource["visibility_timeout_seconds"] == "${each.value.VisibilityTimeout}"
    queues = [q for q in load_aws_resources().queues if q.event_source_mapping is not None]
    assert len({q.visibility_timeout for q in queues}) == 1, "the README states one timeout"
    queue = queues[0]
    stated = re.search(
        r"visibility timeout \((\d+) s\) is\s+six times the function timeout \((\d+) s\)",
        EVENTBRIDGE_README.read_text(encoding="utf-8"),
    )
    assert stated, "deploy/eventbridge/README.md no longer states the function timeout"
    assert int(stated.group(1)) == queue.visibility_timeout
    assert int(stated.group(2)) == queue.visibility_timeout // 6
