"""The clients' Kafka configuration path on EKS: ``SASL_SSL`` with ``SCRAM-SHA-512`` and the
cluster CA, read from the environment (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``,
``KAFKA_SSL_CA_LOCATION``) by ``eventing.settings.KafkaSettings``, as the services, the Quix app
and the sink read it.

Locally Kafka stays plaintext; this test starts a broker of its own with a SASL_SSL listener
(certificate made here with ``cryptography``, SCRAM credentials stored when the log is
formatted) and ACLs per service user, as Strimzi's KafkaUsers set them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
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

from devstack.settings import DevstackSettings
from eventing.settings import KafkaSettings
from tests.support.secure_kafka import SecureBroker, secure_broker
from tests.support.tls import make_server_certificate

pytestmark = pytest.mark.integration

USER, PASSWORD = "care-plan", f"scram-{uuid.uuid4().hex}"
OUTSIDER, OUTSIDER_PASSWORD = "outsider", f"scram-{uuid.uuid4().hex}"
TOPIC = "careplan.bookings"
GROUP = "care-plan.test"


@pytest.fixture(scope="module")
def broker(
    devstack_settings: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    folder = tmp_path_factory.mktemp("kafka-sasl-ssl")
    users = {USER: PASSWORD, OUTSIDER: OUTSIDER_PASSWORD}
    with secure_broker(devstack_settings, folder, users) as started:
        _provision(started)
        yield started


def _provision(broker: SecureBroker) -> None:
    admin = AdminClient({"bootstrap.servers": broker.internal, "log_level": 0})
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
