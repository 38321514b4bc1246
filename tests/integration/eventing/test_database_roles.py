"""One database role per service, limited to its own schema, and migrations under an owner role:
``eventing.database_roles`` runs the SQL the EKS migration Jobs run (sql/service_roles.sql)
against the session's PostgreSQL, each service's migrations run as its owner, and the services'
own logins are tried: their data works, everything else is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from pydantic import SecretStr

from care_plan import migrate as care_plan_migrate
from devstack.postgres import admin_dsn
from devstack.settings import DevstackSettings
from eventing import migrations, schema_wait
from eventing.database_roles import ServiceRoles, ensure_service_roles
from provider_schedule import migrate as provider_schedule_migrate

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class Database:
    name: str
    admin_dsn: str
    suffix: str  # roles are cluster-wide: each run has its own

    def url(self, role: str, *, driver: str = "postgresql") -> str:
        host = self.admin_dsn.split("@", 1)[1].rsplit("/", 1)[0]
        return f"{driver}://{role}:{PASSWORD}@{host}/{self.name}"

    def admin_url(self) -> str:
        """This database as the session's superuser (the RDS master user's part)."""
        return f"{self.admin_dsn.rsplit('/', 1)[0]}/{self.name}"

    def roles(self, schema: str) -> ServiceRoles:
        return ServiceRoles(
            schema=schema,
            owner_role=f"{schema}_owner_{self.suffix}",
            owner_password=SecretStr(PASSWORD),
            service_role=f"{schema}_{self.suffix}",
            service_password=SecretStr(PASSWORD),
            # What the provider-schedule migration Job passes (deploy/k8s/base/migrations).
            extensions=("btree_gist",) if schema == "provider_schedule" else (),
        )


PASSWORD = "test-only"
SCHEMAS = ("provider_schedule", "care_plan")


@pytest.fixture(scope="module")
def database(infrastructure: DevstackSettings) -> Iterator[Database]:
    suffix = uuid.uuid4().hex[:8]
    db = Database(f"careplan_roles_{suffix}", admin_dsn(infrastructure), suffix)

    async def run(*statements: str) -> None:
        connection = await asyncpg.connect(admin_dsn(infrastructure))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f"create database {db.name}"))
    yield db
    roles = [db.roles(schema) for schema in SCHEMAS]
    names = [name for r in roles for name in (r.service_role, r.owner_role)]
    asyncio.run(
        run(f"drop database {db.name} with (force)", *(f"drop role if exists {n}" for n in names))
    )


async def bootstrap(database: Database) -> None:
    connection = await asyncpg.connect(database.admin_url())
    try:
        for schema in SCHEMAS:
            await ensure_service_roles(connection, database.roles(schema))
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def migrated(database: Database) -> Database:
    await bootstrap(database)
    for schema, migrate in (
        ("provider_schedule", provider_schedule_migrate),
        ("care_plan", care_plan_migrate),
    ):
        owner = database.roles(schema).owner_role
        await asyncio.to_thread(migrate.upgrade, database.url(owner, driver="postgresql+asyncpg"))
    # Not run again here: the service's grants on the tables the migrations made come from
    # the owner's default privileges alone (test_running_the_roles_again_changes_nothing runs
    # it again, as every rollout does).
    return database


@pytest.fixture
async def provider_schedule_login(migrated: Database) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        migrated.url(migrated.roles("provider_schedule").service_role)
    )
    yield connection
    await connection.close()


async def test_the_service_role_reads_and_writes_its_own_schema(
    provider_schedule_login: asyncpg.Connection,
) -> None:
    db = provider_schedule_login
    provider = uuid.uuid4()
    await db.execute(
        "insert into provider_schedule.providers (id, first_name, last_name, speciality, gender)"
        " values ($1, 'A', 'B', 'CARDIOLOGY', 'FEMALE')",
        provider,
    )
    await db.execute(
        "update provider_schedule.providers set speciality = 'DERMATOLOGY' where id = $1", provider
    )
    speciality = await db.fetchval(
        "select speciality from provider_schedule.providers where id = $1", provider
    )
    assert speciality == "DERMATOLOGY"
    # The outbox's and the inbox's tables too (made by a later migration than the schema).
    assert await db.fetchval("select count(*) from provider_schedule.outbox") >= 0
    await db.execute("delete from provider_schedule.providers where id = $1", provider)
    sequences = await db.fetch(
        "select sequence_name from information_schema.sequences"
        " where sequence_schema = 'provider_schedule'"
    )
    for row in sequences:
        await db.fetchval(f"select nextval('provider_schedule.{row['sequence_name']}')")


@pytest.mark.parametrize(
    "statement",
    [
        "select count(*) from care_plan.bookings",
        "insert into care_plan.outbox default values",
        "create table provider_schedule.intruder (id int)",
        "alter table provider_schedule.providers add column intruder int",
        "drop table provider_schedule.cancelled_bookings",
        "truncate provider_schedule.providers",
        "create schema intruder",
        "create table public.intruder (id int)",
    ],
)
async def test_the_service_role_is_refused_the_other_schema_and_ddl(
    provider_schedule_login: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await provider_schedule_login.execute(statement)


async def test_the_owner_owns_every_table_of_its_schema_and_nothing_of_the_other(
    migrated: Database,
) -> None:
    connection = await asyncpg.connect(migrated.url(migrated.roles("care_plan").owner_role))
    try:
        owners = await connection.fetch(
            "select distinct pg_get_userbyid(c.relowner) as owner from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'care_plan'"
        )
        assert {row["owner"] for row in owners} == {migrated.roles("care_plan").owner_role}
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("select count(*) from provider_schedule.providers")
    finally:
        await connection.close()


async def grants(database: Database) -> set[tuple[str, str, str, str]]:
    connection = await asyncpg.connect(database.admin_url())
    try:
        rows = await connection.fetch(
            "select grantee, table_schema, table_name, privilege_type"
            " from information_schema.role_table_grants where grantee like $1",
            f"%{database.suffix}",
        )
    finally:
        await connection.close()
    return {tuple(row.values()) for row in rows}


async def test_running_the_roles_again_changes_nothing(migrated: Database) -> None:
    before = await grants(migrated)
    assert before
    await bootstrap(migrated)
    assert await grants(migrated) == before


async def test_the_service_role_sees_whether_its_schema_is_current(migrated: Database) -> None:
    """What the services' wait-for-migrations init container asks, with the service's login."""
    url = migrated.url(migrated.roles("care_plan").service_role, driver="postgresql+asyncpg")
    assert await asyncio.to_thread(
        schema_wait.is_current, care_plan_migrate.MIGRATIONS, "care_plan", url
    )
    owner = migrated.url(migrated.roles("care_plan").owner_role, driver="postgresql+asyncpg")
    await asyncio.to_thread(migrations.downgrade, care_plan_migrate.MIGRATIONS, owner, "-1")
    try:
        assert not await asyncio.to_thread(
            schema_wait.is_current, care_plan_migrate.MIGRATIONS, "care_plan", url
        )
    finally:
        await asyncio.to_thread(care_plan_migrate.upgrade, owner)
