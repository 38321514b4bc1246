"""The Insurance Processor (Quix Streams, exactly-once) runs with no more rights than its
KafkaUser on EKS grants (deploy/k8s/gen_users.py, the same ACLs Strimzi's User Operator sets):
over SASL_SSL as ``insurance-processor``, on a broker whose authorizer refuses everything else,
it creates its state changelog, takes its pod-named transactional id and forwards a covered
booking. An ACL the app needs and the generator forgot fails this test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from contract import topics
from devstack.settings import DevstackSettings
from tests.integration.insurance_processor.test_app import (
    VALID,
    Input,
    Processor,
    _free_port,
    new_booking,
)
from tests.support.secure_kafka import SecureBroker, secure_broker
from tests.unit.deploy.tools import load_k8s_script

pytestmark = pytest.mark.integration

gen_users = load_k8s_script("gen_users")
USER, PASSWORD = "insurance-processor", f"scram-{uuid.uuid4().hex}"
TOPICS = (
    topics.CAREPLAN_BOOKINGS,
    topics.CAREPLAN_BOOKINGS_INSURED,
    topics.dead_letter_topic(topics.CAREPLAN_BOOKINGS),
)
# What Kubernetes gives a Deployment's pod (eventing.membership reads them): the transactional
# id becomes "<pod name>/<group>", which the user's transactionalId prefix ACL must cover.
POD_NAME = "insurance-processor-5d8f7c9b4-x2x9q"

RESOURCE = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
}
PATTERN = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}


def bindings(user: str) -> list[AclBinding]:
    return [
        AclBinding(
            RESOURCE[acl.resource_type],
            acl.name,
            PATTERN[acl.pattern],
            f"User:{user}",
            "*",
            AclOperation[_upper_snake(operation)],
            AclPermissionType.ALLOW,
        )
        for acl in gen_users.users()[user]
        for operation in acl.operations
    ]


def _upper_snake(operation: str) -> str:
    """DescribeConfigs -> DESCRIBE_CONFIGS, the name confluent-kafka's AclOperation uses."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(operation)).upper()


@pytest.fixture(scope="module")
def broker(
    devstack_settings: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    folder = tmp_path_factory.mktemp("kafka-acls")
    with secure_broker(devstack_settings, folder, {USER: PASSWORD}) as started:
        admin = AdminClient({"bootstrap.servers": started.internal, "log_level": 0})
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in TOPICS]).values():
            future.result(60)
        for future in admin.create_acls(bindings(USER)).values():
            future.result(60)
        yield started


@pytest.fixture
def processor(broker: SecureBroker, tmp_path: Path) -> Iterator[Callable[[], Processor]]:
    started: list[Processor] = []

    def start() -> Processor:
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.sasl_ssl,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": PASSWORD,
            "KAFKA_SSL_CA_LOCATION": str(broker.certificate.ca),
            "HOSTNAME": POD_NAME,
            "KUBERNETES_SERVICE_HOST": "10.100.0.1",
            "STATE_DIR": str(tmp_path / "state"),
            "HTTP_PORT": str(_free_port()),
            "COMMIT_INTERVAL_SECONDS": "0.3",
            "LOG_LEVEL": "INFO",
        }
        started.append(Processor(environment, tmp_path / "processor.log"))
        started[-1].wait_ready(timeout=120)
        return started[-1]

    yield start
    for process in started:
        process.kill()


def insured_keys(broker: SecureBroker, wanted: str, timeout: float = 120) -> set[str]:
    """Keys on the insured topic (read committed, as the sink reads it) until ``wanted``."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.internal,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "log_level": 0,
        }
    )
    consumer.subscribe([topics.CAREPLAN_BOOKINGS_INSURED])
    keys: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        while wanted not in keys and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None and message.key():
                keys.add(message.key().decode())
    finally:
        consumer.close()
    return keys


def test_the_processor_forwards_a_covered_booking_with_only_its_acls(
    broker: SecureBroker, processor: Callable[[], Processor]
) -> None:
    running = processor()
    covered = new_booking(insurance=VALID)
    bookings = Input(broker.internal, topics.CAREPLAN_BOOKINGS)
    bookings.event(covered)
    bookings.flush()
    assert covered.id in insured_keys(broker, covered.id)
    assert running.process.poll() is None, "the processor stopped"
    admin = AdminClient({"bootstrap.servers": broker.internal, "log_level": 0})
    changelogs = [t for t in admin.list_topics(timeout=10).topics if t.startswith("changelog__")]
    assert changelogs, "Quix made no state changelog"
    assert all(t.startswith(f"changelog__{USER}--") for t in changelogs)


def test_a_group_it_has_no_grant_for_is_refused(
    broker: SecureBroker, processor: Callable[[], Processor], tmp_path: Path
) -> None:
    """The control: the same app under another consumer group cannot get going."""
    environment_group = {"CONSUMER_GROUP": "somebody-else"}
    start = processor
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment_group.items():
            patch.setenv(name, value)
        with pytest.raises(AssertionError):
            start()
