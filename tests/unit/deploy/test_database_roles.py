"""PostgreSQL on Kubernetes: each service logs in as its own role, limited to its schema; the
migration Jobs alone see the admin (RDS master) and owner logins. The SQL itself is tried
against a real PostgreSQL in tests/integration/eventing/test_database_roles.py."""

from __future__ import annotations

import importlib
import re
from base64 import b64decode
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.test_terraform import OVERLAY_ENV, resources
from tests.unit.deploy.tools import ROOT

SCHEMA_OWNERS = {"provider-schedule": "provider_schedule", "care-plan": "care_plan"}
ADMIN_SECRET = "careplan-database-admin"


def unhashed(name: str) -> str:
    """A generated Secret's name without the hash suffix kustomize appends in the base."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def secret_ref(variable: dict[str, Any]) -> tuple[str, str]:
    ref = variable["valueFrom"]["secretKeyRef"]
    return unhashed(ref["name"]), ref["key"]


def secrets_read_by(pod: dict[str, Any]) -> set[str]:
    names = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    for container in pod["containers"] + pod.get("initContainers", []):
        for variable in container.get("env", []):
            names.add(variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name", ""))
        names |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
    return {unhashed(name) for name in names} - {""}


def job_steps(rendered: Rendered, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = rendered.one("Job", f"{name}-migrate")["spec"]["template"]["spec"]
    (roles,) = pod["initContainers"]
    (migrate,) = pod["containers"]
    return env_of(roles), env_of(migrate)


def url_user(url: str) -> str:
    return urlsplit(url).username or ""


def base_secret(rendered: Rendered, name: str, key: str) -> str:
    (secret,) = [s for s in rendered.of_kind("Secret") if unhashed(s["metadata"]["name"]) == name]
    return b64decode(secret["data"][key]).decode()


def eks_template(rendered: Rendered, name: str, key: str) -> str:
    template: str = rendered.one("ExternalSecret", name)["spec"]["target"]["template"]["data"][key]
    return template


def test_services_never_see_the_admin_or_owner_logins(rendered: Rendered) -> None:
    for workload in rendered.of_kind("Deployment"):
        pod = workload["spec"]["template"]["spec"]
        assert ADMIN_SECRET not in secrets_read_by(pod), workload["metadata"]["name"]
    readers = {
        job["metadata"]["name"]
        for job in rendered.of_kind("Job")
        if ADMIN_SECRET in secrets_read_by(job["spec"]["template"]["spec"])
    }
    assert readers == {f"{name}-migrate" for name in SCHEMA_OWNERS}


@pytest.mark.parametrize(("name", "module"), sorted(SCHEMA_OWNERS.items()))
def test_each_service_logs_in_as_its_own_role(rendered: Rendered, name: str, module: str) -> None:
    roles, _ = job_steps(rendered, name)
    service_role = roles["SERVICE_ROLE"]["value"]
    pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        secret, key = secret_ref(env_of(container)["DATABASE_URL"])
        assert (secret, key) == ("careplan-secrets", f"{module.upper()}_DATABASE_URL")
    url = (
        eks_template(rendered, "careplan-secrets", key)
        if rendered.of_kind("ExternalSecret")
        else base_secret(rendered, "careplan-secrets", key)
    )
    assert url_user(url) == service_role == module


@pytest.mark.parametrize(("name", "module"), sorted(SCHEMA_OWNERS.items()))
def test_the_migration_job_makes_the_roles_as_admin_and_migrates_as_owner(
    rendered: Rendered, name: str, module: str
) -> None:
    roles, migrate = job_steps(rendered, name)
    assert secret_ref(roles["DATABASE_ADMIN_URL"]) == (ADMIN_SECRET, "DATABASE_ADMIN_URL")
    assert (
        roles["DATABASE_SCHEMA"]["value"]
        == importlib.import_module(f"{module}.persistence.tables").SCHEMA
    )
    owner = roles["OWNER_ROLE"]["value"]
    assert owner == f"{module}_owner"
    assert secret_ref(migrate["DATABASE_URL"]) == (
        ADMIN_SECRET,
        f"{module.upper()}_OWNER_DATABASE_URL",
    )
    assert "DATABASE_ADMIN_URL" not in migrate, "Alembic runs as the owner, not the admin"
    _, key = secret_ref(migrate["DATABASE_URL"])
    url = (
        eks_template(rendered, ADMIN_SECRET, key)
        if rendered.of_kind("ExternalSecret")
        else base_secret(rendered, ADMIN_SECRET, key)
    )
    assert url_user(url) == owner


@pytest.mark.parametrize(("name", "module"), sorted(SCHEMA_OWNERS.items()))
def test_the_job_creates_the_extensions_the_migrations_need(
    rendered: Rendered, name: str, module: str
) -> None:
    """The owner may not create extensions: the roles step does, as admin."""
    versions = Path(ROOT / "services" / module / "src" / module / "persistence" / "migrations")
    needed = {
        found
        for path in versions.rglob("*.py")
        for found in re.findall(r"create extension if not exists (\w+)", path.read_text())
    }
    roles, _ = job_steps(rendered, name)
    passed = {e for e in roles["DATABASE_EXTENSIONS"]["value"].split(",") if e}
    assert passed == needed


def test_the_eks_service_logins_never_use_the_master_secret(cloud: Rendered) -> None:
    master = dict(
        line.split("=", 1) for line in OVERLAY_ENV.read_text().splitlines() if "=" in line
    )["DB_MASTER_SECRET_ARN"]
    services = cloud.one("ExternalSecret", "careplan-secrets")
    assert master not in {item["remoteRef"]["key"] for item in services["spec"]["data"]}
    admin = cloud.one("ExternalSecret", ADMIN_SECRET)
    assert master in {item["remoteRef"]["key"] for item in admin["spec"]["data"]}


def test_terraform_makes_a_password_for_every_role_the_jobs_create(cloud: Rendered) -> None:
    (passwords,) = [v for k, v in resources("random_password").items() if k == "database_role"]
    declared = set(re.findall(r'"(\w+)"', passwords["for_each"]))
    created = set()
    for name in SCHEMA_OWNERS:
        roles, _ = job_steps(cloud, name)
        created |= {roles["OWNER_ROLE"]["value"], roles["SERVICE_ROLE"]["value"]}
    assert declared == created
