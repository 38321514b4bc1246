"""One DATABASE_URL serves SQLAlchemy and the relay's raw asyncpg connection."""

from __future__ import annotations

import asyncpg.connect_utils

from eventing.settings import DatabaseSettings, libpq_dsn


def test_sqlalchemy_ssl_argument_becomes_libpq_sslmode() -> None:
    dsn = libpq_dsn("postgresql+asyncpg://app:s%40cret@db.example:5432/careplan?ssl=require")
    assert dsn == "postgresql://app:s%40cret@db.example:5432/careplan?sslmode=require"


def test_asyncpg_reads_the_relay_dsn_as_tls_and_sends_no_server_setting() -> None:
    settings = DatabaseSettings(
        database_url="postgresql+asyncpg://app:pw@db.example:5432/careplan?ssl=require"
    )
    _, params = asyncpg.connect_utils._parse_connect_dsn_and_args(  # the parser connect() uses
        dsn=settings.asyncpg_dsn,
        host=None,
        port=None,
        user=None,
        password=None,
        passfile=None,
        database=None,
        ssl=None,
        direct_tls=None,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
        service=None,
        servicefile=None,
    )
    assert params.sslmode == asyncpg.connect_utils.SSLMode.require
    assert not params.server_settings or "ssl" not in params.server_settings


def test_a_url_without_query_is_only_renamed() -> None:
    assert libpq_dsn("postgresql+asyncpg://postgres@127.0.0.1:5432/careplan") == (
        "postgresql://postgres@127.0.0.1:5432/careplan"
    )
