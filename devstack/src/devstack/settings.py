"""Settings of the local platform, read from the environment.

``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL`` and ``AWS_ENDPOINT_URL`` point the launcher at
existing infrastructure: the part they name is then not started, only prepared (topics,
database schemas, AWS resources).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

KAFKA_VERSION = "4.1.1"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "careplan"


class DevstackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPLAN_", extra="ignore")

    state_dir: Path = Path(".careplan/local")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    # Shifts every port, so that a test session can run beside a platform started by `make up`.
    port_offset: int = 0
    topic_partitions: int = 6
    api_key: str = "LOCAL_DEV"
    booking_timeout_seconds: float = 30.0
    # The services' admission budget (ADMISSION_BUDGET_SECONDS); unset, each service's default.
    admission_budget_seconds: float | None = None
    kafka_heap: str = "768m"
    # Replicas per part (devstack.replicas): "2" or "care-plan=3,insurance-processor=2". Unset,
    # the plan the last `up` stored in the state folder (one of each without one).
    replicas: str | None = None
    # `careplan up --with tracing`: the services export their traces to the local Jaeger.
    tracing: bool = False
    # The head sampler's ratio for new traces (OTEL_TRACES_SAMPLER_ARG); children follow
    # their parent's decision, so a booking's trace is kept whole or not at all.
    trace_sample_ratio: float = 1.0
    # How often the services export their spans (OTEL_BSP_SCHEDULE_DELAY, ms). Locally a trace
    # should show while one looks at the booking; None is the SDK's default (5 s), as on EKS,
    # which the tracing benchmark measures: exporting 25 times as often costs ~0.5 ms of CPU
    # per booking at 10 % sampling (README, What tracing costs).
    trace_export_delay_ms: int | None = 200

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL")
    )
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION"))

    def port(self, base: int) -> int:
        return base + self.port_offset

    @property
    def kafka_port(self) -> int:
        return self.port(9092)

    @property
    def kafka_controller_port(self) -> int:
        return self.port(9093)

    @property
    def postgres_port(self) -> int:
        return self.port(5432)

    @property
    def moto_port(self) -> int:
        return self.port(4566)

    @property
    def provider_schedule_port(self) -> int:
        return self.port(8090)

    @property
    def care_plan_port(self) -> int:
        return self.port(8080)

    @property
    def eventbridge_sink_port(self) -> int:
        return self.port(8082)

    @property
    def insurance_processor_port(self) -> int:
        return self.port(8081)

    @property
    def otlp_grpc_port(self) -> int:
        return self.port(4317)

    @property
    def otlp_http_port(self) -> int:
        return self.port(4318)

    @property
    def jaeger_ui_port(self) -> int:
        return self.port(16686)

    @property
    def jaeger_url(self) -> str:
        return f"http://127.0.0.1:{self.jaeger_ui_port}"

    @property
    def flow_port(self) -> int:
        return self.port(8070)

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def sqlalchemy_url(self) -> str:
        return (
            self.database_url
            or f"postgresql+asyncpg://postgres@127.0.0.1:{self.postgres_port}/careplan"
        )

    @property
    def aws_endpoint(self) -> str:
        return self.aws_endpoint_url or f"http://127.0.0.1:{self.moto_port}"

    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    def _environment_names(self) -> dict[str, str]:
        names = {}
        for name, field in type(self).model_fields.items():
            alias = field.validation_alias
            names[name] = (
                str(alias.choices[0])
                if isinstance(alias, AliasChoices)
                else f"{self.model_config.get('env_prefix', '')}{name}".upper()
            )
        return names

    def as_environment(self) -> dict[str, str]:
        """These settings as the variables they are read from, so that a child process (the
        supervisor) builds the same settings; paths absolute, since its folder may differ."""
        environment = {}
        for name, variable in self._environment_names().items():
            value = getattr(self, name)
            if isinstance(value, Path):
                environment[variable] = str(value.resolve())
            elif value is not None:
                environment[variable] = str(value)
        return environment

    def unset_environment(self) -> list[str]:
        """The variables of settings that are unset here: a child must not read them from the
        inherited environment (a test session ignores an exported KAFKA_BOOTSTRAP_SERVERS)."""
        return [
            variable
            for name, variable in self._environment_names().items()
            if getattr(self, name) is None
        ]

    def service_environment(self) -> dict[str, str]:
        """What every service process is given: the same names as in compose and Kubernetes."""
        admission = (
            {"ADMISSION_BUDGET_SECONDS": str(self.admission_budget_seconds)}
            if self.admission_budget_seconds is not None
            else {}
        )
        return (
            admission
            | self.tracing_environment()
            | {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                "DATABASE_URL": self.sqlalchemy_url,
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "AWS_REGION": self.aws_region,
                "AWS_DEFAULT_REGION": self.aws_region,
                # moto accepts any credentials; real AWS uses the standard chain instead.
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "API_KEY": self.api_key,
                "TOPIC_PARTITIONS": str(self.topic_partitions),
                "BOOKING_TIMEOUT_SECONDS": str(self.booking_timeout_seconds),
                "LOG_LEVEL": "INFO",
                "ENVIRONMENT": "local",
            }
            | self._auth_environment()
        )

    def _auth_environment(self) -> dict[str, str]:
        """The local user pool's issuer, client and key set, once moto has made it."""
        from devstack.cognito import load_pool

        pool = load_pool(self.state_dir)
        return pool.auth_environment() if pool is not None else {}

    def tracing_environment(self) -> dict[str, str]:
        """The standard OpenTelemetry variables the services read (telemetry.tracing): OTLP to
        the local Jaeger with tracing on; otherwise no exporter, and the SDK stays off."""
        if not self.tracing:
            return {"OTEL_TRACES_EXPORTER": "none"}
        environment = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.otlp_http_port}",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(self.trace_sample_ratio),
        }
        if self.trace_export_delay_ms is not None:
            environment["OTEL_BSP_SCHEDULE_DELAY"] = str(self.trace_export_delay_ms)
        return environment
