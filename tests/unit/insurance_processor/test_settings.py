"""The processor reads the environment names the launcher, compose and Kubernetes set."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from insurance_processor.settings import ProcessorSettings

NAMES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "CONSUMER_GROUP",
    "INPUT_TOPIC",
    "OUTPUT_TOPIC",
    "STATE_DIR",
    "DEDUP_TTL_SECONDS",
    "COMMIT_INTERVAL_SECONDS",
    "HTTP_PORT",
    "LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_contract_topics_and_the_local_platform() -> None:
    settings = ProcessorSettings()

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.consumer_group == "insurance-processor"
    assert (settings.input_topic, settings.output_topic, settings.dead_letter_topic) == (
        "careplan.bookings",
        "careplan.bookings.insured",
        "careplan.bookings.dlt",
    )
    assert settings.state_dir == Path(".careplan/local/insurance-processor-state")
    assert settings.dedup_ttl == timedelta(days=7)
    assert settings.http_port == 8081


def test_environment_overrides_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("CONSUMER_GROUP", "group")
    monkeypatch.setenv("INPUT_TOPIC", "in")
    monkeypatch.setenv("OUTPUT_TOPIC", "out")
    monkeypatch.setenv("STATE_DIR", "/tmp/state")
    monkeypatch.setenv("DEDUP_TTL_SECONDS", "3600")
    monkeypatch.setenv("COMMIT_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("HTTP_PORT", "18081")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    settings = ProcessorSettings()

    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert (settings.consumer_group, settings.input_topic, settings.output_topic) == (
        "group",
        "in",
        "out",
    )
    assert settings.dead_letter_topic == "in.dlt"
    assert settings.state_dir == Path("/tmp/state")
    assert settings.dedup_ttl == timedelta(hours=1)
    assert (settings.commit_interval_seconds, settings.http_port, settings.log_level) == (
        0.5,
        18081,
        "DEBUG",
    )
