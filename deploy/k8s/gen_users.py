"""Writes one Strimzi KafkaUser per Kafka client of the platform, with ACLs derived from the code.

- deploy/k8s/base/kafka/users.yaml: a SCRAM-SHA-512 user per service (and one for KEDA's lag
  reader) whose ``simple`` ACLs allow exactly what that client does, nothing more;
- deploy/k8s/components/msk/user-secrets.yaml: on MSK, the same users' password Secrets, synced
  from Secrets Manager (gen_topics.py turns the same ACLs into the MSK Job's kafka-acls.sh).

What each client does is read from the code it runs, not written down a second time: the
consumed and produced topics and the consumer group of each service's settings class (their
defaults are what a deployment runs), the topics Care Plan's outbox writes
(``care_plan.messaging.outgoing``), the dead-letter topic of every consumed topic
(``contract.topics.dead_letter_topic``), Quix Streams' changelog naming and the transactional
id ``eventing.membership`` gives the Insurance Processor. tests/unit/deploy/test_kafka_users.py
compares the checked-in file with this rendering and, independently, every topic a service's
source names with what its user is granted.

    uv run python deploy/k8s/gen_users.py            # rewrite the file
    uv run python deploy/k8s/gen_users.py --check    # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from care_plan.settings import Settings as CarePlanSettings
from contract import topics
from contract.topics import dead_letter_topic
from eventbridge_sink.settings import SinkSettings
from insurance_processor.settings import ProcessorSettings
from provider_schedule.settings import ProviderScheduleSettings

KAFKA_CLUSTER = "careplan"
STRIMZI_API_VERSION = "kafka.strimzi.io/v1"
USERS_FILE = Path(__file__).resolve().parent / "base" / "kafka" / "users.yaml"
MSK_SECRETS_FILE = Path(__file__).resolve().parent / "components" / "msk" / "user-secrets.yaml"
# deploy/terraform/msk.tf: AmazonMSK_<var.name>_<user>, var.name's default being "careplan".
MSK_SECRET_PREFIX = "AmazonMSK_careplan_"  # noqa: S105 - a name, not a password
MSK_ADMIN_USER = "careplan-admin"
# KEDA's kafka scaler reads the lag of the services' groups; it gets a user of its own.
KEDA_USER = "keda-kafka-lag-reader"

# The group prefix of eventing.redrive's consumers (the dead-letter depth gauge every service
# runs): they only assign partitions and read watermarks, but a librdkafka consumer with a
# group.id still looks up its coordinator, which needs Describe on the group.
DLT_DEPTH_GROUP_PREFIX = "careplan-dlt-"

CONSUME = ("Describe", "Read")
PRODUCE = ("Describe", "Write")
# Quix Streams reads each topic's configuration (DescribeConfigs) before it uses it.
QUIX_CONSUME = ("Describe", "DescribeConfigs", "Read")
QUIX_PRODUCE = ("Describe", "DescribeConfigs", "Write")


@dataclass(frozen=True, slots=True, order=True)
class Acl:
    """One allow rule of a KafkaUser: a resource (type, name, pattern) and its operations."""

    resource_type: str  # topic, group, transactionalId
    name: str
    pattern: str  # literal, prefix
    operations: tuple[str, ...]

    @property
    def reads(self) -> bool:
        return "Read" in self.operations

    def as_strimzi(self) -> dict[str, Any]:
        return {
            "resource": {
                "type": self.resource_type,
                "name": self.name,
                "patternType": self.pattern,
            },
            "operations": sorted(self.operations),
        }


def _default(settings: type[Any], field: str) -> Any:
    """A settings field's default: what a deployment that does not override it runs."""
    return settings.model_fields[field].get_default(call_default_factory=True)


def _topics(names: Iterable[str], operations: tuple[str, ...]) -> list[Acl]:
    return [Acl("topic", name, "literal", operations) for name in names]


def provider_schedule() -> list[Acl]:
    settings = ProviderScheduleSettings
    consumed = [_default(settings, "booking_requests_topic")]
    produced = [
        _default(settings, "availability_topic"),
        _default(settings, "booking_replies_topic"),
    ]
    return [
        *_topics(consumed, CONSUME),
        *_topics([*produced, *map(dead_letter_topic, consumed)], PRODUCE),
        Acl("group", _default(settings, "consumer_group"), "literal", ("Read",)),
        Acl("group", DLT_DEPTH_GROUP_PREFIX, "prefix", ("Describe",)),
    ]


def care_plan() -> list[Acl]:
    settings = CarePlanSettings
    consumed = [
        _default(settings, "availability_topic"),
        _default(settings, "booking_replies_topic"),
    ]
    # The topics care_plan.messaging.outgoing addresses its outbox rows to.
    produced = [topics.BOOKING_REQUESTS, topics.CAREPLAN_BOOKINGS]
    return [
        *_topics(consumed, CONSUME),
        *_topics([*produced, *map(dead_letter_topic, consumed)], PRODUCE),
        # One process, several groups: <prefix>.availability-projector, .booking-replies and the
        # read-model rebuild's <prefix>.rebuild-<random> (care_plan.bootstrap, rebuild_read_model).
        Acl("group", f"{_default(settings, 'consumer_group')}.", "prefix", ("Read",)),
        Acl("group", DLT_DEPTH_GROUP_PREFIX, "prefix", ("Describe",)),
    ]


def insurance_processor(deployment: str = "insurance-processor") -> list[Acl]:
    settings = ProcessorSettings
    group = _default(settings, "consumer_group")
    consumed = _default(settings, "input_topic")
    return [
        *_topics([consumed], QUIX_CONSUME),
        *_topics([_default(settings, "output_topic"), dead_letter_topic(consumed)], QUIX_PRODUCE),
        # Quix Streams names its state changelogs changelog__<group>--<topic>--<store> and
        # creates them through the Admin API (auto_create_topics in insurance_processor.app).
        Acl(
            "topic",
            f"changelog__{group}--",
            "prefix",
            ("Create", "Describe", "DescribeConfigs", "Read", "Write"),
        ),
        Acl("group", group, "literal", ("Read",)),
        # eventing.membership.transactional_config: "<pod name>/<group>" on Kubernetes, and a
        # Deployment's pods are named "<deployment>-<hash>-<hash>".
        Acl("transactionalId", f"{deployment}-", "prefix", ("Describe", "Write")),
    ]


def eventbridge_sink() -> list[Acl]:
    consumed = _default(SinkSettings, "topics")
    return [
        *_topics(consumed, CONSUME),
        *_topics(map(dead_letter_topic, consumed), PRODUCE),
        Acl("group", _default(SinkSettings, "consumer_group"), "literal", ("Read",)),
    ]


SERVICES = {
    "provider-schedule": provider_schedule,
    "care-plan": care_plan,
    "insurance-processor": insurance_processor,
    "eventbridge-sink": eventbridge_sink,
}


def keda_lag_reader() -> list[Acl]:
    """Describe, never Read: the lag is the group's committed offsets against the topics' ends
    (OffsetFetch and ListOffsets), so the scaler can see where a group is but read no record.
    The topics are the ones the services read by name (a ScaledObject names a topic); Quix's
    changelogs are not scaled on."""
    acls: set[Acl] = set()
    for service in SERVICES.values():
        for acl in service():
            if acl.resource_type == "group" and acl.name != DLT_DEPTH_GROUP_PREFIX:
                acls.add(Acl("group", acl.name, acl.pattern, ("Describe",)))
            elif (
                acl.resource_type == "topic"
                and acl.pattern == "literal"
                and "Read" in acl.operations
            ):
                acls.add(Acl("topic", acl.name, acl.pattern, ("Describe",)))
    return sorted(acls)


def users() -> dict[str, list[Acl]]:
    return {**{name: acls() for name, acls in SERVICES.items()}, KEDA_USER: keda_lag_reader()}


_HEADER = """\
# GENERATED by deploy/k8s/gen_users.py from the services' settings: do not edit by hand.
# One SCRAM-SHA-512 user per Kafka client; the User Operator keeps its password in a Secret of
# the same name (key `password`) and its ACLs on the brokers' `simple` authorizer.
"""


def render_user(name: str, acls: list[Acl]) -> str:
    lines = [
        "---",
        f"apiVersion: {STRIMZI_API_VERSION}",
        "kind: KafkaUser",
        "metadata:",
        f"  name: {name}",
        "  labels:",
        f"    strimzi.io/cluster: {KAFKA_CLUSTER}",
        "spec:",
        "  authentication:",
        "    type: scram-sha-512",
        "  authorization:",
        "    type: simple",
        "    acls:",
    ]
    for acl in sorted(acls):
        lines += [
            "      - resource:",
            f"          type: {acl.resource_type}",
            f"          name: {acl.name}",
            f"          patternType: {acl.pattern}",
            f"        operations: [{', '.join(sorted(acl.operations))}]",
        ]
    return "\n".join(lines) + "\n"


def render_all() -> str:
    return _HEADER + "".join(render_user(name, acls) for name, acls in users().items())


def render_msk_user_secret(name: str) -> str:
    return f"""\
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  refreshInterval: 1h
  secretStoreRef:
    kind: SecretStore
    name: aws-secrets-manager
  target:
    name: {name}
    creationPolicy: Owner
  data:
    - secretKey: password
      remoteRef:
        key: {MSK_SECRET_PREFIX}{name}
        property: password
"""


def render_msk_user_secrets() -> str:
    header = """\
# GENERATED by deploy/k8s/gen_users.py: do not edit by hand.
# On MSK the same Secrets as Strimzi's User Operator makes (one per user, key `password`),
# synced from the SCRAM secrets deploy/terraform/msk.tf associates with the cluster, and the
# admin user's for the kafka-topics Job.
"""
    return header + "".join(map(render_msk_user_secret, [*users(), MSK_ADMIN_USER]))


def generated_files() -> dict[Path, str]:
    return {USERS_FILE: render_all(), MSK_SECRETS_FILE: render_msk_user_secrets()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    stale = 0
    for path, rendered in generated_files().items():
        if not args.check:
            path.write_text(rendered, encoding="utf-8")
        elif path.read_text(encoding="utf-8") != rendered:
            print(f"{path} is stale: run deploy/k8s/gen_users.py", file=sys.stderr)
            stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
