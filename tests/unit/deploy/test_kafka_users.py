"""Kafka on Kubernetes: TLS and SCRAM for every client, and each user granted exactly what its
code does (Strimzi: the base and the eks overlay; MSK: test_msk_auth.py)."""

from __future__ import annotations

import ast
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest

from contract import topics as contract_topics
from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.tools import ROOT, load_k8s_script

SERVICE_PACKAGES = {
    "provider-schedule": "provider_schedule",
    "care-plan": "care_plan",
    "insurance-processor": "insurance_processor",
    "eventbridge-sink": "eventbridge_sink",
}


gen_users = load_k8s_script("gen_users")
Acl = gen_users.Acl


def rendered_acls(user: dict[str, Any]) -> set[Any]:
    return {
        Acl(
            rule["resource"]["type"],
            rule["resource"]["name"],
            rule["resource"].get("patternType", "literal"),
            tuple(sorted(rule["operations"])),
        )
        for rule in user["spec"]["authorization"]["acls"]
    }


def allows(acls: set[Any], resource_type: str, name: str, operation: str) -> bool:
    """What Kafka's simple authorizer decides for an allow-only rule set."""
    return any(
        acl.resource_type == resource_type
        and operation in acl.operations
        and (acl.name == name if acl.pattern == "literal" else name.startswith(acl.name))
        for acl in acls
    )


def topics_named_in_source(package: str) -> set[str]:
    """Every contract topic constant the service's code names (``topics.X`` or
    ``from contract.topics import X``): what it may read or write, whatever the generator says."""
    constants = {
        name: value
        for name, value in vars(contract_topics).items()
        if name.isupper() and isinstance(value, str) and "." in value
    }
    found: set[str] = set()
    for path in (ROOT / "services" / package / "src" / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "topics"
                and node.attr in constants
            ):
                found.add(constants[node.attr])
            elif isinstance(node, ast.ImportFrom) and node.module == "contract.topics":
                found |= {constants[a.name] for a in node.names if a.name in constants}
    return found


def test_users_file_is_the_rendering_of_the_code() -> None:
    checked_in = Path(gen_users.USERS_FILE).read_text(encoding="utf-8")
    assert checked_in == gen_users.render_all(), "run: uv run python deploy/k8s/gen_users.py"


def test_every_kafka_user_has_exactly_the_acls_derived_from_code(with_strimzi: Rendered) -> None:
    users = {u["metadata"]["name"]: u for u in with_strimzi.of_kind("KafkaUser")}
    expected = gen_users.users()
    assert set(users) == set(expected)
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512", name
        assert user["spec"]["authorization"]["type"] == "simple", name
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "careplan", name
        assert rendered_acls(user) == set(expected[name]), name


@pytest.mark.parametrize("user", sorted(SERVICE_PACKAGES))
def test_every_topic_a_service_names_in_code_is_granted_to_it(user: str) -> None:
    acls = set(gen_users.users()[user])
    named = topics_named_in_source(SERVICE_PACKAGES[user])
    assert named, f"no contract topic found in {SERVICE_PACKAGES[user]}: the scan is broken"
    ungranted = {
        topic
        for topic in named
        if not (allows(acls, "topic", topic, "Read") or allows(acls, "topic", topic, "Write"))
    }
    assert not ungranted, f"{user} names {sorted(ungranted)} in its code but may not use them"
    # Every topic it reads has a dead-letter topic it writes to.
    for acl in acls:
        if acl.resource_type == "topic" and acl.pattern == "literal" and "Read" in acl.operations:
            dlt = contract_topics.dead_letter_topic(acl.name)
            assert allows(acls, "topic", dlt, "Write"), f"{user} cannot park records in {dlt}"


def test_no_service_may_read_what_it_does_not_consume() -> None:
    users = gen_users.users()
    # The contract's flow: who reads which topic (docs/contract.md, section 2).
    readers = {
        contract_topics.PROVIDER_AVAILABILITY: {"care-plan"},
        contract_topics.BOOKING_REQUESTS: {"provider-schedule"},
        contract_topics.BOOKING_REPLIES: {"care-plan"},
        contract_topics.CAREPLAN_BOOKINGS: {"insurance-processor", "eventbridge-sink"},
        contract_topics.CAREPLAN_BOOKINGS_INSURED: {"eventbridge-sink"},
    }
    for topic, expected in readers.items():
        actual = {name for name, acls in users.items() if allows(set(acls), "topic", topic, "Read")}
        assert actual == expected, topic
    for name, acls in users.items():
        for acl in acls:
            assert "All" not in acl.operations, name
            assert acl.resource_type != "cluster", name
            assert not (acl.pattern == "prefix" and acl.name in ("", "*")), name


def test_the_keda_reader_sees_every_lag_it_scales_on_and_reads_nothing(
    with_strimzi: Rendered,
) -> None:
    keda = rendered_acls(with_strimzi.one("KafkaUser", gen_users.KEDA_USER))
    assert {op for acl in keda for op in acl.operations} == {"Describe"}
    triggers = [
        trigger
        for scaled in with_strimzi.of_kind("ScaledObject")
        for trigger in scaled["spec"]["triggers"]
        if trigger["type"] == "kafka"
    ]
    assert triggers
    for trigger in triggers:
        assert allows(keda, "topic", trigger["metadata"]["topic"], "Describe"), trigger
        assert allows(keda, "group", trigger["metadata"]["consumerGroup"], "Describe"), trigger


def test_the_brokers_accept_only_tls_with_scram_and_authorize_every_request(
    with_strimzi: Rendered,
) -> None:
    kafka = with_strimzi.one("Kafka", "careplan")["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    assert kafka["listeners"], "no listener"
    for listener in kafka["listeners"]:
        assert listener["tls"] is True, f"plaintext listener {listener['name']}"
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]
    ports = {listener["port"] for listener in kafka["listeners"]}
    config = with_strimzi.of_kind("ConfigMap")
    careplan = next(c for c in config if c["metadata"]["name"].startswith("careplan-config"))
    bootstrap = careplan["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert {int(address.rsplit(":", 1)[1]) for address in bootstrap.split(",")} <= ports
    assert careplan["data"]["KAFKA_SSL_CA_LOCATION"] == "/etc/kafka-ca/ca.crt"


def _container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container.get("env", [])}


def test_services_connect_with_sasl_ssl_as_their_own_user(cloud: Rendered) -> None:
    config = next(
        c for c in cloud.of_kind("ConfigMap") if c["metadata"]["name"].startswith("careplan-config")
    )["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    for name in SERVICE_PACKAGES:
        env = _container_env(cloud.one("Deployment", name))
        assert env["KAFKA_SASL_USERNAME"]["value"] == name
        password = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert password == {"name": name, "key": "password"}
        assert "KAFKA_SECURITY_PROTOCOL" not in env, "the shared PLAINTEXT/SASL_SSL choice is"


def test_strimzi_services_trust_the_cluster_ca(with_strimzi: Rendered) -> None:
    for name in SERVICE_PACKAGES:
        pod = with_strimzi.one("Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "careplan-cluster-ca-cert"
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["kafka-ca"] == "/etc/kafka-ca"


def test_keda_authenticates_every_kafka_trigger(cloud: Rendered) -> None:
    auths = {a["metadata"]["name"]: a for a in cloud.of_kind("TriggerAuthentication")}
    for scaled in cloud.of_kind("ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            auth = auths[trigger["authenticationRef"]["name"]]
            refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
            assert {"sasl", "tls", "username", "password"} <= set(refs)
            assert refs["password"]["name"] == gen_users.KEDA_USER
            settings = cloud.one("Secret", refs["sasl"]["name"])["data"]
            assert {key: b64decode(value).decode() for key, value in settings.items()} == {
                "sasl": "scram_sha512",
                "tls": "enable",
                "username": gen_users.KEDA_USER,
            }
