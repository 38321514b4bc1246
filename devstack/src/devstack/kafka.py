"""A single-node Apache Kafka 4.x broker in KRaft mode, run from Maven Central jars."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from contract.topics import TopicSpec, all_topics
from devstack.component import Component, NotReadyError, Tier
from devstack.settings import KAFKA_VERSION, DevstackSettings

RESOURCES = Path(__file__).resolve().parents[2] / "kafka"
HEALTHCHECK_TOPIC = "_careplan.healthcheck"
_COMPLETE_MARKER = ".complete"


def jars_installed(settings: DevstackSettings) -> bool:
    return (settings.kafka_home / _COMPLETE_MARKER).exists()


def install_jars(settings: DevstackSettings) -> Path:
    """Resolve the broker's jars with Maven into the cache folder (once)."""
    libs = settings.kafka_home / "libs"
    if jars_installed(settings):
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to fetch the Kafka jars; install it first")
    libs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(RESOURCES / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    (settings.kafka_home / _COMPLETE_MARKER).write_text(KAFKA_VERSION)
    return libs


def _kafka_dir(settings: DevstackSettings) -> Path:
    return settings.state_dir / "kafka"


def java_command(
    settings: DevstackSettings, main_class: str, *args: str, heap: str = "256m"
) -> list[str]:
    return [
        "java",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # C1 only: a faster warm start on two cores
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={settings.state_dir.resolve() / 'logs' / 'kafka'}",
        f"-Dlog4j2.configurationFile={RESOURCES / 'log4j2.properties'}",
        "-cp",
        str(settings.kafka_home / "libs" / "*"),
        main_class,
        *args,
    ]


def _render_config(settings: DevstackSettings) -> Path:
    kafka_dir = _kafka_dir(settings)
    kafka_dir.mkdir(parents=True, exist_ok=True)
    template = (RESOURCES / "server.properties.template").read_text()
    config = kafka_dir / "server.properties"
    config.write_text(
        template.format(
            broker_port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            data_dir=(kafka_dir / "data").resolve(),
            partitions=settings.topic_partitions,
        )
    )
    return config


def prepare(settings: DevstackSettings) -> None:
    install_jars(settings)
    config = _render_config(settings)
    if (_kafka_dir(settings) / "data" / "meta.properties").exists():
        return
    format_storage(settings, config, _generate_cluster_id(settings))


def format_storage(
    settings: DevstackSettings, config: Path, cluster_id: str, *options: str
) -> None:
    """Format a single-node KRaft log for ``config``; ``options`` are StorageTool's own
    (``--add-scram`` stores SCRAM credentials before the first start)."""
    subprocess.run(
        java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(config),
            *options,
        ),
        check=True,
        capture_output=True,
    )


def _generate_cluster_id(settings: DevstackSettings) -> str:
    result = subprocess.run(
        java_command(settings, "kafka.tools.StorageTool", "random-uuid"),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


def command(settings: DevstackSettings) -> list[str]:
    config = _kafka_dir(settings) / "server.properties"
    return java_command(settings, "kafka.Kafka", str(config), heap=settings.kafka_heap)


def ready(settings: DevstackSettings) -> None:
    """A produce/consume round trip: metadata alone does not prove the broker accepts writes."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    try:
        admin.list_topics(timeout=2)
    except KafkaException as error:
        raise NotReadyError(str(error)) from error
    create_topics(settings, [TopicSpec(HEALTHCHECK_TOPIC)], partitions=1)
    _round_trip(settings)


def _round_trip(settings: DevstackSettings) -> None:
    marker = uuid.uuid4().hex.encode()
    delivered: list[tuple[int, int]] = []

    def on_delivery(error: KafkaError | None, message: object) -> None:
        if error is None:
            delivered.append((message.partition(), message.offset()))  # type: ignore[attr-defined]

    producer = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "acks": "all", "log_level": 0}
    )
    producer.produce(HEALTHCHECK_TOPIC, value=marker, on_delivery=on_delivery)
    producer.flush(5)
    if not delivered:
        raise NotReadyError("the broker did not acknowledge a write")
    partition, offset = delivered[0]
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"careplan-healthcheck-{os.getpid()}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(HEALTHCHECK_TOPIC, partition, offset)])
        message = consumer.poll(5)
        if message is None or message.error() or message.value() != marker:
            raise NotReadyError("the broker did not hand back what was written")
    finally:
        consumer.close()


def create_topics(
    settings: DevstackSettings,
    topics: list[TopicSpec] | tuple[TopicSpec, ...],
    *,
    partitions: int | None = None,
) -> None:
    """Create topics that do not exist yet; existing ones are left as they are."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [
        NewTopic(
            spec.name,
            num_partitions=partitions or settings.topic_partitions,
            replication_factor=1,
            config={"cleanup.policy": "compact"} if spec.compacted else {},
        )
        for spec in topics
        if spec.name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {name}: {error}") from error


def provision(settings: DevstackSettings) -> None:
    create_topics(settings, all_topics())


KAFKA = Component(
    name="kafka",
    tier=Tier.INFRASTRUCTURE,
    command=command,
    ready=ready,
    address=lambda s: s.bootstrap_servers,
    ports=lambda s: (s.kafka_port, s.kafka_controller_port),
    prepare=prepare,
    provision=provision,
    external=lambda s: s.kafka_bootstrap_servers is not None,
    ready_timeout=120.0,
)
