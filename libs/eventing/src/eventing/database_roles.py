"""``python -m eventing.database_roles``: create or update one service's database roles.

An owner role that owns the service's schema and runs its Alembic migrations, and the
service's own login, limited to the data in that schema (``sql/service_roles.sql``, the one
definition the Kubernetes migration Job and the integration test both run). Connects as a role
that may create roles: the RDS master user in the cloud, never given to a service.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib.resources import files

import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventing.logging import configure_logging
from eventing.settings import libpq_dsn

logger = logging.getLogger(__name__)

SERVICE_ROLES_SQL = files("eventing").joinpath("sql", "service_roles.sql")


@dataclass(frozen=True, slots=True)
class ServiceRoles:
    schema: str
    owner_role: str
    owner_password: SecretStr
    service_role: str
    service_password: SecretStr
    extensions: tuple[str, ...] = ()

    def settings(self) -> dict[str, str]:
        """The parameters the SQL reads with current_setting()."""
        return {
            "careplan.schema": self.schema,
            "careplan.owner_role": self.owner_role,
            "careplan.owner_password": self.owner_password.get_secret_value(),
            "careplan.service_role": self.service_role,
            "careplan.service_password": self.service_password.get_secret_value(),
            "careplan.extensions": ",".join(self.extensions),
        }


async def ensure_service_roles(connection: asyncpg.Connection, roles: ServiceRoles) -> None:
    """Create or update the roles, the schema and the grants, in one transaction."""
    script = SERVICE_ROLES_SQL.read_text(encoding="utf-8")
    async with connection.transaction():
        for name, value in roles.settings().items():
            # Transaction-local: the passwords are gone from the session when it commits.
            await connection.execute("select set_config($1, $2, true)", name, value)
        await connection.execute(script)


class RolesSettings(BaseSettings):
    """The Job's environment: the admin connection and the roles of one service."""

    model_config = SettingsConfigDict(extra="ignore")

    database_admin_url: SecretStr
    database_schema: str
    owner_role: str
    owner_password: SecretStr
    service_role: str
    service_password: SecretStr
    # Comma-separated: DATABASE_EXTENSIONS=btree_gist
    database_extensions: str = ""
    log_level: str = "INFO"

    def roles(self) -> ServiceRoles:
        return ServiceRoles(
            schema=self.database_schema,
            owner_role=self.owner_role,
            owner_password=self.owner_password,
            service_role=self.service_role,
            service_password=self.service_password,
            extensions=tuple(e.strip() for e in self.database_extensions.split(",") if e.strip()),
        )


async def run(settings: RolesSettings) -> None:
    dsn = libpq_dsn(settings.database_admin_url.get_secret_value())
    connection = await asyncpg.connect(dsn)
    try:
        await ensure_service_roles(connection, settings.roles())
    finally:
        await connection.close()


def main() -> None:
    settings = RolesSettings()
    configure_logging(settings.log_level, service="database-roles")
    asyncio.run(run(settings))
    logger.info(
        "database roles are current",
        extra={"schema": settings.database_schema, "service_role": settings.service_role},
    )


if __name__ == "__main__":
    main()
