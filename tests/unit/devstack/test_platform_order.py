from __future__ import annotations

import pytest

from devstack.catalog import platform_components
from devstack.component import Component, Tier
from devstack.platform import Platform
from devstack.settings import DevstackSettings


def _component(name: str, *depends_on: str) -> Component:
    return Component(
        name=name,
        tier=Tier.SERVICE,
        command=lambda _: ["true"],
        ready=lambda _: None,
        address=lambda _: "-",
        depends_on=depends_on,
    )


def test_a_component_brings_up_what_it_depends_on_and_nothing_else() -> None:
    platform = Platform(
        DevstackSettings(),
        [
            _component("kafka"),
            _component("postgres"),
            _component("moto"),
            _component("api", "kafka", "postgres"),
            _component("sink", "kafka", "moto"),
        ],
    )

    assert {c.name for c in platform.select(["api"])} == {"api", "kafka", "postgres"}


def test_unknown_components_are_refused() -> None:
    platform = Platform(DevstackSettings(), [_component("kafka")])

    with pytest.raises(KeyError, match="nope"):
        platform.select(["nope"])


def test_the_catalog_starts_infrastructure_before_any_service() -> None:
    platform = Platform(DevstackSettings(), platform_components())

    waves = platform._waves(platform.components)

    assert {c.name for c in waves[0]} == {"kafka", "postgres", "moto", "jaeger"}
    assert all(c.tier is not Tier.INFRASTRUCTURE for wave in waves[1:] for c in wave)


def test_port_offset_shifts_every_port_and_external_endpoints_win() -> None:
    shifted = DevstackSettings(port_offset=10000)
    external = DevstackSettings(
        kafka_bootstrap_servers="broker:9092", database_url="postgresql+asyncpg://u@db/careplan"
    )

    assert (shifted.kafka_port, shifted.postgres_port, shifted.moto_port) == (19092, 15432, 14566)
    assert (shifted.care_plan_port, shifted.provider_schedule_port) == (18080, 18090)
    assert (shifted.otlp_grpc_port, shifted.otlp_http_port) == (14317, 14318)
    assert (shifted.jaeger_ui_port, shifted.flow_port) == (26686, 18070)
    assert external.bootstrap_servers == "broker:9092"
    assert external.service_environment()["DATABASE_URL"] == "postgresql+asyncpg://u@db/careplan"


def test_a_service_can_be_stopped_alone_while_its_dependencies_keep_running(tmp_path) -> None:
    platform = Platform(
        DevstackSettings(state_dir=tmp_path),
        [
            _component("kafka"),
            _component("api", "kafka"),
        ],
    )

    assert platform.down(["api"]) == []
    assert [[c.name for c in wave] for wave in platform._waves(platform.components)] == [
        ["kafka"],
        ["api"],
    ]


def test_services_export_traces_to_the_local_jaeger_only_with_tracing_on() -> None:
    off = DevstackSettings(port_offset=10000).service_environment()
    on = DevstackSettings(
        port_offset=10000, tracing=True, trace_sample_ratio=0.1
    ).service_environment()

    assert off["OTEL_TRACES_EXPORTER"] == "none"
    assert on["OTEL_TRACES_EXPORTER"] == "otlp"
    assert on["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:14318"
    assert (on["OTEL_TRACES_SAMPLER"], on["OTEL_TRACES_SAMPLER_ARG"]) == (
        "parentbased_traceidratio",
        "0.1",
    )
    assert on["OTEL_BSP_SCHEDULE_DELAY"] == "200"  # a trace shows while one looks


def test_the_sdk_exports_at_its_own_interval_when_no_delay_is_set() -> None:
    environment = DevstackSettings(
        port_offset=10000, tracing=True, trace_export_delay_ms=None
    ).service_environment()

    assert environment["OTEL_TRACES_EXPORTER"] == "otlp"
    assert "OTEL_BSP_SCHEDULE_DELAY" not in environment


def test_an_optional_part_starts_only_when_named() -> None:
    from dataclasses import replace

    platform = Platform(
        DevstackSettings(),
        [_component("kafka"), replace(_component("jaeger"), optional=True), _component("app")],
    )

    assert [c.name for c in platform.select(None)] == ["kafka", "app"]
    assert [c.name for c in platform.select(["jaeger", "app"])] == ["jaeger", "app"]
