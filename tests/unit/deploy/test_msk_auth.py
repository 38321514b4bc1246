"""Amazon MSK: SASL/SCRAM over TLS only, no unauthenticated access, one SCRAM user per client
(the same users and ACLs as Strimzi's, from deploy/k8s/gen_users.py)."""

from __future__ import annotations

import re
from typing import Any

from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.terraform import TERRAFORM, blocks, parsed, resources
from tests.unit.deploy.test_kafka_users import gen_users, rendered_acls

SCRAM_PORT = 9096  # MSK's SASL/SCRAM over TLS listener


def msk_cluster() -> dict[str, Any]:
    (cluster,) = resources("aws_msk_cluster").values()
    return cluster


def test_msk_encrypts_every_client_connection_and_refuses_the_unauthenticated() -> None:
    cluster = msk_cluster()
    (encryption,) = cluster["encryption_info"]
    (in_transit,) = encryption["encryption_in_transit"]
    assert in_transit["client_broker"] == "TLS"
    assert in_transit["in_cluster"] is True
    (authentication,) = cluster["client_authentication"]
    assert authentication["unauthenticated"] is False
    (sasl,) = authentication["sasl"]
    assert sasl == {"scram": True, "iam": False}
    assert "tls" not in authentication, "mTLS is not how clients authenticate here"


def test_only_the_scram_listener_is_reachable_from_the_nodes() -> None:
    rule = resources("aws_vpc_security_group_ingress_rule")["msk_from_nodes"]
    assert re.findall(r"= (\d+)", rule["for_each"]) == [str(SCRAM_PORT)]


def test_every_kafka_user_has_a_scram_secret_msk_accepts() -> None:
    (users,) = [
        block["msk_users"]
        for document in parsed().values()
        for block in document.get("locals", [])
        if "msk_users" in block
    ]
    assert set(re.findall(r'"([a-z-]+)"', users)) == {*gen_users.users(), gen_users.MSK_ADMIN_USER}
    secret = resources("aws_secretsmanager_secret")["msk_user"]
    assert secret["name"].startswith("AmazonMSK_"), "MSK reads SCRAM secrets named AmazonMSK_*"
    assert secret["kms_key_id"] == "${aws_kms_key.platform.arn}", "a customer-managed key"
    association = resources("aws_msk_scram_secret_association")["this"]
    assert "aws_secretsmanager_secret.msk_user" in association["secret_arn_list"]


def test_msk_denies_what_no_acl_allows_once_enforced() -> None:
    configuration = resources("aws_msk_configuration")["this"]["server_properties"]
    assert 'allow.everyone.if.no.acl.found=${var.msk_acls_enforced ? "false" : "true"}' in (
        configuration
    )
    assert "auto.create.topics.enable=false" in configuration
    assert blocks("variable")["msk_acls_enforced"]["default"] is True
    (info,) = msk_cluster()["configuration_info"]
    assert info["arn"] == "${aws_msk_configuration.this[0].arn}"


def test_the_overlay_gets_the_scram_bootstrap_servers() -> None:
    text = (TERRAFORM / "outputs.tf").read_text(encoding="utf-8")
    assert "aws_msk_cluster.this[0].bootstrap_brokers_sasl_scram" in text
    assert "bootstrap_brokers :" not in text


def test_the_msk_job_grants_exactly_the_strimzi_acls(msk: Rendered, eks: Rendered) -> None:
    job = msk.one("Job", "kafka-topics")["spec"]["template"]["spec"]
    (acls,) = [c for c in job["containers"] if c["name"] == "kafka-acls"]
    script = acls["command"][-1]
    granted: dict[str, set[Any]] = {}
    option = {"--topic": "topic", "--group": "group", "--transactional-id": "transactionalId"}
    for user, operations, kind, name, pattern in re.findall(
        r"--allow-principal User:(\S+) ((?:--operation \S+ )+)(--topic|--group|--transactional-id)"
        r" (\S+) --resource-pattern-type (\S+)",
        script,
    ):
        granted.setdefault(user, set()).add(
            gen_users.Acl(
                option[kind],
                name,
                {"literal": "literal", "prefixed": "prefix"}[pattern],
                tuple(sorted(operations.replace("--operation ", "").split())),
            )
        )
    strimzi = {u["metadata"]["name"]: rendered_acls(u) for u in eks.of_kind("KafkaUser")}
    assert granted == strimzi


def test_msk_services_use_synced_passwords_and_no_strimzi_secret(msk: Rendered) -> None:
    assert not msk.of_kind("KafkaUser")
    assert "careplan-cluster-ca-cert" not in msk.text
    config = next(
        c for c in msk.of_kind("ConfigMap") if c["metadata"]["name"].startswith("careplan-config")
    )["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["KAFKA_SSL_CA_LOCATION"] == "probe"
    synced = {s["metadata"]["name"]: s for s in msk.of_kind("ExternalSecret")}
    for user in [*gen_users.users(), gen_users.MSK_ADMIN_USER]:
        (item,) = synced[user]["spec"]["data"]
        assert item["secretKey"] == "password"
        assert item["remoteRef"] == {"key": f"AmazonMSK_careplan_{user}", "property": "password"}
