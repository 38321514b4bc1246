"""The clients' Kafka configuration path on EKS: ``SASL_SSL`` with ``SCRAM-SHA-512`` and the
cluster CA, read from the environment (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``,
``KAFKA_SSL_CA_LOCATION``) by ``eventing.settings.KafkaSettings``, as the services, the Quix app
and the sink read it.

Locally Kafka stays plaintext; this test starts a broker of its own with a SASL_SSL listener
(certificate made here with ``cryptography``, SCRAM credentials stored when the log is
formatted) and ACLs per service user, as Strimzi's KafkaUsers set them."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from quixstreams.kafka import ConnectionConfig

from devstack.kafka import format_storage, install_jars, java_command
from devstack.settings import DevstackSettings
from eventing.settings import KafkaSettings
from tests.support.tls import ServerCertificate, make_server_certificate

pytestmark = pytest.mark.integration

USER, PASSWORD = "care-plan", f"scram-{uuid.uuid4().hex}"
OUTSIDER, OUTSIDER_PASSWORD = "outsider", f"scram-{uuid.uuid4().hex}"
TOPIC = "careplan.bookings"
GROUP = "care-plan.test"


@dataclass(frozen=True)
class SecureBroker:
    sasl_ssl: str  # bootstrap of the SASL_SSL listener, by host name (verified)
    internal: str  # plaintext listener for the test's own admin work (super user)
    certificate: ServerCertificate


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _config(folder: Path, certificate: ServerCertificate, ports: list[int]) -> Path:
    internal, sasl_ssl, controller = ports
    keystore = folder / "keystore.pem"
    keystore.write_bytes(certificate.key.read_bytes() + certificate.certificate.read_bytes())
    config = folder / "server.properties"
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
                f"listeners=INTERNAL://127.0.0.1:{internal},SASL_SSL://localhost:{sasl_ssl},"
                f"CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=INTERNAL://127.0.0.1:{internal},"
                f"SASL_SSL://localhost:{sasl_ssl}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=INTERNAL",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,"
                "SASL_SSL:SASL_SSL",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                # ACLs as Strimzi's simple authorization: nothing without a grant; the test's
                # plaintext listener and the controller act as the super user.
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "super.users=User:ANONYMOUS",
                f"log.dirs={folder / 'data'}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )
    )
    return config


@pytest.fixture(scope="module")
def broker(
    devstack_settings: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    # The session's launcher settings for the jars and the JVM; its own broker is not used.
    folder = tmp_path_factory.mktemp("kafka-sasl-ssl")
    settings = devstack_settings.model_copy(update={"state_dir": folder})
    install_jars(settings)
    certificate = make_server_certificate(folder / "tls")
    ports = _free_ports(3)
    config = _config(folder, certificate, ports)
    format_storage(
        settings,
        config,
        uuid.uuid4().hex[:22],
        "--add-scram",
        f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]",
        "--add-scram",
        f"SCRAM-SHA-512=[name={OUTSIDER},password={OUTSIDER_PASSWORD}]",
    )
    log = (folder / "broker.log").open("wb")
    process = subprocess.Popen(
        java_command(settings, "kafka.Kafka", str(config), heap="384m"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    broker = SecureBroker(f"localhost:{ports[1]}", f"127.0.0.1:{ports[0]}", certificate)
    try:
        _provision(broker, process)
        yield broker
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _provision(broker: SecureBroker, process: subprocess.Popen[bytes]) -> None:
    admin = AdminClient({"bootstrap.servers": broker.internal, "log_level": 0})
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, "the SASL_SSL broker exited"
        try:
            admin.list_topics(timeout=5)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
    for future in admin.create_topics([NewTopic(TOPIC, 1, 1)]).values():
        future.result(60)
    # What the care-plan KafkaUser grants (deploy/k8s): its topic and its group, nothing more.
    principal = f"User:{USER}"
    grants = [
        AclBinding(ResourceType.TOPIC, TOPIC, ResourcePatternType.LITERAL, principal, "*",
                   operation, AclPermissionType.ALLOW)
        for operation in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)
    ] + [
        AclBinding(ResourceType.GROUP, GROUP, ResourcePatternType.LITERAL, principal, "*",
                   AclOperation.READ, AclPermissionType.ALLOW)
    ]  # fmt: skip
    for future in admin.create_acls(grants).values():
        future.result(60)


def _settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, broker: SecureBroker, user: str, password: str
) -> KafkaSettings:
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": broker.sasl_ssl,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CA_LOCATION": str(broker.certificate.ca),
    }.items():
        monkeypatch.setenv(name, value)
    return KafkaSettings()


def _produce(config: dict[str, str], value: bytes) -> KafkaError | None:
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "log_level": 0, "message.timeout.ms": 20000})
    producer.produce(TOPIC, value, on_delivery=lambda error, _: outcome.append(error))
    producer.flush(30)
    assert outcome, "no delivery report"
    return outcome[0]


def test_a_service_user_produces_and_consumes_over_sasl_ssl(
    broker: SecureBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _settings_from_environment(monkeypatch, broker, USER, PASSWORD).client_config()
    value = uuid.uuid4().hex.encode()
    assert _produce(config, value) is None

    consumer = Consumer(
        {**config, "group.id": GROUP, "auto.offset.reset": "earliest", "log_level": 0}
    )
    consumer.subscribe([TOPIC])
    try:
        deadline = time.monotonic() + 60
        seen: list[bytes] = []
        while value not in seen and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen.append(message.value())
    finally:
        consumer.close()
    assert value in seen
    # The Quix app builds its connection from the same dictionary (as app.py does).
    quix = ConnectionConfig.from_librdkafka_dict(config, ignore_extras=True)
    assert (quix.security_protocol, quix.ssl_ca_location) == (
        "sasl_ssl",
        str(broker.certificate.ca),
    )


def test_a_wrong_password_is_refused(broker: SecureBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _settings_from_environment(monkeypatch, broker, USER, "not-the-password")
    error = _produce(config.client_config(), b"refused")
    assert error is not None


def test_a_user_without_a_grant_cannot_write(
    broker: SecureBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _settings_from_environment(monkeypatch, broker, OUTSIDER, OUTSIDER_PASSWORD)
    error = _produce(config.client_config(), b"refused")
    assert error is not None
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_broker_the_ca_does_not_vouch_for_is_refused(
    broker: SecureBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stranger = make_server_certificate(tmp_path / "stranger")
    settings = _settings_from_environment(monkeypatch, broker, USER, PASSWORD)
    config = settings.model_copy(update={"ssl_ca_location": str(stranger.ca)}).client_config()
    assert _produce(config, b"refused") is not None
