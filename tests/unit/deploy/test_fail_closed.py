"""Every rendered deployment says which environment it is (the services have no default), and
the EKS overlays run as production with the Cognito issuer the services verify tokens against."""

from __future__ import annotations

import re
from typing import Any

from eventing.settings import Environment
from tests.unit.deploy.conftest import Rendered

HTTP_SERVICES = ("care-plan", "provider-schedule")


def config_of(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """What a container reads from ConfigMaps, by variable (its envFrom)."""
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in rendered.of_kind("ConfigMap")}
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        reference: dict[str, Any] | None = source.get("configMapRef")
        if reference is not None:
            values |= maps[reference["name"]]
    return values


def environment_of(rendered: Rendered, deployment: str) -> dict[str, str]:
    """The configuration the service's own container reads."""
    spec = rendered.one("Deployment", deployment)["spec"]["template"]["spec"]
    (container,) = [c for c in spec["containers"] if c["name"] == deployment]
    return config_of(rendered, container)


def test_every_http_service_is_told_its_environment(rendered: Rendered) -> None:
    for service in HTTP_SERVICES:
        environment = environment_of(rendered, service).get("ENVIRONMENT")
        assert environment in {e.value for e in Environment}, f"{rendered.name}: {service}"


def test_the_eks_overlays_run_as_production_with_the_pools_issuer(cloud: Rendered) -> None:
    for service in HTTP_SERVICES:
        environment = environment_of(cloud, service)
        assert environment["ENVIRONMENT"] == Environment.PRODUCTION.value
        assert re.fullmatch(
            r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_[A-Za-z0-9]+",
            environment["AUTH_ISSUER"],
        )
        assert environment["AUTH_AUDIENCE"]
