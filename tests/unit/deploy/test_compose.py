"""deploy/compose/docker-compose.yml is valid and runs the platform with the launcher's settings."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from devstack.settings import DevstackSettings
from tests.unit.deploy.tools import DEPLOY, ROOT, docker_compose, run

COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
PLATFORM_ENV = DEPLOY / "k8s" / "base" / "config" / "platform.env"


@cache
def resolved() -> dict[str, Any]:
    """The file as the client resolves it (anchors, merges, build contexts)."""
    result = run([docker_compose(), "-f", COMPOSE, "config"], cwd=COMPOSE.parent)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_compose_file_passes_docker_compose_config() -> None:
    result = run([docker_compose(), "-f", COMPOSE, "config", "--quiet"], cwd=COMPOSE.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_docker_compose_config_rejects_an_invalid_file(tmp_path: Path) -> None:
    broken = COMPOSE.read_text(encoding="utf-8").replace(
        "    healthcheck:\n", "    healthchek:\n", 1
    )
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    result = run(
        [docker_compose(), "-f", tmp_path / "docker-compose.yml", "config", "--quiet"], cwd=tmp_path
    )
    assert result.returncode != 0
    assert "healthchek" in result.stderr


def test_infrastructure_is_kraft_kafka_postgres_and_moto() -> None:
    services = resolved()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["moto"]["image"].startswith("motoserver/moto:")
    assert services["aws-bootstrap"]["command"] == ["python", "-m", "devstack.aws_bootstrap"]


def test_images_are_built_from_the_repository_root_with_their_dockerfile() -> None:
    for name, service in resolved()["services"].items():
        if "build" not in service:
            continue
        assert Path(service["build"]["context"]).resolve() == ROOT, name
        assert (ROOT / service["build"]["dockerfile"]).is_file(), name


def platform_env_names() -> set[str]:
    lines = PLATFORM_ENV.read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0] for line in lines if line.strip() and not line.startswith("#")}


def test_services_get_the_same_variables_as_kubernetes_and_careplan_up(tmp_path: Path) -> None:
    # A state folder without the local user pool: AUTH_* come from moto's pool, which only
    # `careplan up` makes (compose has no Cognito; its services accept the local API key).
    launcher = set(DevstackSettings(state_dir=tmp_path).service_environment())
    # Settings of a secured listener only (Kubernetes' SASL_SSL); compose's broker is plaintext.
    secured_kafka_only = {"KAFKA_SASL_MECHANISM", "KAFKA_SSL_CA_LOCATION"}
    kubernetes = (platform_env_names() - secured_kafka_only) | {
        "API_KEY",
        "DATABASE_URL",
        "HTTP_PORT",
    }
    for name in ("provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink"):
        environment = set(resolved()["services"][name]["environment"])
        assert launcher <= environment, f"{name} lacks {launcher - environment}"
        assert kubernetes <= environment, f"{name} lacks {kubernetes - environment}"
    assert resolved()["services"]["provider-schedule"]["environment"]["API_KEY"] == "LOCAL_DEV"


def test_migrations_finish_before_the_apis_start() -> None:
    services = resolved()["services"]
    for name, module in (("provider-schedule", "provider_schedule"), ("care-plan", "care_plan")):
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["python", "-m", f"{module}.migrate"]
        assert (
            services[name]["depends_on"][f"{name}-migrate"]["condition"]
            == "service_completed_successfully"
        )


def test_our_containers_are_read_only_and_drop_capabilities() -> None:
    for name, service in resolved()["services"].items():
        if not service["image"].startswith("careplan/"):
            continue
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_the_insurance_processor_state_is_a_volume() -> None:
    service = resolved()["services"]["insurance-processor"]
    state_dir = service["environment"]["STATE_DIR"]
    # docker-compose 1.29 prints the short syntax, "source:target:mode".
    targets = [v.split(":")[1] if isinstance(v, str) else v["target"] for v in service["volumes"]]
    assert state_dir in targets
