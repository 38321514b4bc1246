"""A Kafka broker of its own with a SASL_SSL listener (SCRAM-SHA-512, a certificate made with
``cryptography``) and the StandardAuthorizer, as Strimzi's ``tls`` listener with ``simple``
authorization; a plaintext listener for the test's own admin work acts as the super user."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from devstack.kafka import format_storage, install_jars, java_command
from devstack.settings import DevstackSettings
from tests.support.tls import ServerCertificate, make_server_certificate


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


@contextmanager
def secure_broker(
    devstack_settings: DevstackSettings, folder: Path, users: Mapping[str, str]
) -> Iterator[SecureBroker]:
    """Starts the broker with SCRAM credentials for ``users`` (name -> password) and stops it.

    The session's launcher settings give the jars and the JVM; its own broker is not used."""
    settings = devstack_settings.model_copy(update={"state_dir": folder})
    install_jars(settings)
    certificate = make_server_certificate(folder / "tls")
    ports = _free_ports(3)
    config = _config(folder, certificate, ports)
    scram = [
        argument
        for name, password in users.items()
        for argument in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
    ]
    format_storage(settings, config, uuid.uuid4().hex[:22], *scram)
    log = (folder / "broker.log").open("wb")
    process = subprocess.Popen(
        java_command(settings, "kafka.Kafka", str(config), heap="384m"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    broker = SecureBroker(f"localhost:{ports[1]}", f"127.0.0.1:{ports[0]}", certificate)
    try:
        _wait_until_serving(broker, process)
        yield broker
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _wait_until_serving(broker: SecureBroker, process: subprocess.Popen[bytes]) -> None:
    admin = AdminClient({"bootstrap.servers": broker.internal, "log_level": 0})
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, "the SASL_SSL broker exited"
        try:
            admin.list_topics(timeout=5)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
