"""On EKS the services verify RDS: DATABASE_URL asks for ``ssl=verify-full``, and every
container that connects (the APIs and their migration init containers) finds the region's RDS
CA bundle, which Terraform fetched, at the path ``PGSSLROOTCERT`` names."""

from __future__ import annotations

import posixpath
from typing import Any

from tests.unit.deploy.conftest import Rendered
from tests.unit.deploy.terraform import resources
from tests.unit.deploy.test_fail_closed import config_of

DATABASE_URLS = {"DATABASE_URL", "DATABASE_ADMIN_URL"}


def _database_clients(rendered: Rendered) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) for every container given a database URL."""
    return [
        (spec, container)
        for workload in rendered.of_kind("Deployment") + rendered.of_kind("Job")
        for spec in [workload["spec"]["template"]["spec"]]
        for container in spec["containers"] + spec.get("initContainers", [])
        if any(env["name"] in DATABASE_URLS for env in container.get("env", []))
    ]


def test_every_database_url_asks_to_verify_the_server(cloud: Rendered) -> None:
    for name in ("careplan-secrets", "careplan-database-admin"):
        template = cloud.one("ExternalSecret", name)["spec"]["target"]["template"]["data"]
        urls = {key: value for key, value in template.items() if key.endswith("DATABASE_URL")}
        assert urls, name
        for key, url in urls.items():
            assert url.endswith("?ssl=verify-full"), key
    secret = cloud.one("ExternalSecret", "careplan-secrets")
    template = secret["spec"]["target"]["template"]["data"]
    assert template["RDS_CA_BUNDLE"] == "{{ .caBundle }}"
    (ca,) = [item for item in secret["spec"]["data"] if item["secretKey"] == "caBundle"]
    assert ca["remoteRef"]["property"] == "ca_bundle"


def test_every_database_client_finds_the_ca_bundle_where_pgsslrootcert_says(
    cloud: Rendered,
) -> None:
    clients = _database_clients(cloud)
    assert len(clients) == 8, "two APIs, their init containers and the two steps of two Jobs"
    for spec, container in clients:
        folder, name = posixpath.split(config_of(cloud, container)["PGSSLROOTCERT"])
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "careplan-secrets"
        assert {"key": "RDS_CA_BUNDLE", "path": name} in volume["secret"]["items"]


def test_terraform_stores_the_regions_rds_ca_bundle_with_the_connection() -> None:
    (bundle,) = resources("http").values()
    assert bundle["url"].startswith("https://truststore.pki.rds.amazonaws.com/")
    (connection,) = [
        v for k, v in resources("aws_secretsmanager_secret_version").items()
        if k == "database_connection"
    ]  # fmt: skip
    assert "ca_bundle = data.http.rds_ca_bundle.response_body" in str(connection["secret_string"])
