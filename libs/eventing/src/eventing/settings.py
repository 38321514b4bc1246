"""Settings shared by every deployable, read from the environment (same names everywhere)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# librdkafka backs off exponentially between connection attempts up to 10 s by default, so a
# client that saw the broker down for a while found it again up to 10 s after it was back
# (measured: consumers resumed ~8 s after a restarted broker served). One second bounds that
# wait; a down broker then costs one refused connect a second per client.
RECONNECT_CONFIG = {"reconnect.backoff.ms": "100", "reconnect.backoff.max.ms": "1000"}


class KafkaSettings(BaseSettings):
    """How every client reaches the brokers: plaintext locally; on EKS ``SASL_SSL`` with
    ``SCRAM-SHA-512`` (Strimzi's ``tls`` listener, MSK's SCRAM) and the cluster's CA in
    ``KAFKA_SSL_CA_LOCATION``. The same variables for the services, the Quix app and the sink."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # PEM file of the CA that signed the brokers' certificates; the system store when unset.
    ssl_ca_location: str | None = None

    def client_config(self) -> dict[str, str]:
        """librdkafka settings common to producers, consumers and admin clients."""
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            **RECONNECT_CONFIG,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            config["ssl.ca.location"] = self.ssl_ca_location
        return config


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/careplan",
        description="SQLAlchemy URL with the asyncpg driver",
    )
    pool_size: int = Field(default=10, alias="DATABASE_POOL_SIZE")

    @property
    def asyncpg_dsn(self) -> str:
        """The same database as a plain libpq URL, for asyncpg's own connections (the relay)."""
        return libpq_dsn(self.database_url)


def libpq_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://...?ssl=require`` as asyncpg's ``connect(dsn)`` reads it.

    SQLAlchemy hands the query's ``ssl`` to asyncpg as the ``ssl`` argument, but asyncpg's own
    DSN parser only knows libpq's ``sslmode`` and sends any other query parameter to the server
    as a setting: ``ssl=require`` then fails every connection with 'parameter "ssl" cannot be
    changed now'. One URL serves both, so the relay's DSN renames it.
    """
    # Plain URL parsing, not SQLAlchemy's: the Quix app and the sink import these settings and
    # must not pay for (or ship) SQLAlchemy.
    parts = urlsplit(sqlalchemy_url)
    query = [
        ("sslmode" if name == "ssl" else name, value) for name, value in parse_qsl(parts.query)
    ]
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


LOCAL_API_KEY = "LOCAL_DEV"  # the contract's published local key


class Environment(StrEnum):
    LOCAL = "local"
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def allows_local_key(self) -> bool:
        return self in (Environment.LOCAL, Environment.DEV, Environment.TEST)


def check_api_key(api_key: SecretStr, environment: Environment) -> None:
    """Refuse an empty key, and the published local key outside development: a deployment that
    forgot to set ``API_KEY`` must not start with a key everybody knows."""
    key = api_key.get_secret_value()
    if not key.strip():
        raise ValueError("API_KEY must not be empty")
    if key == LOCAL_API_KEY and not environment.allows_local_key:
        raise ValueError(
            f"API_KEY is the published default {LOCAL_API_KEY!r}, accepted only with "
            f"ENVIRONMENT=local, dev or test (ENVIRONMENT is {environment.value!r}); "
            "set API_KEY to a secret of this deployment"
        )


class AuthSettings(BaseSettings):
    """Who issues the bearer tokens the HTTP services accept: a Cognito user pool in the cloud,
    moto's locally. ``AUTH_ISSUER`` is the pool's issuer URL (the ``iss`` of its tokens)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    issuer: str | None = None
    audience: str | None = None  # the app client id (the ``aud``/``client_id`` of a token)
    jwks_url: str | None = None  # default: the issuer's /.well-known/jwks.json


MISSING_ENVIRONMENT = (
    "ENVIRONMENT is not set: set it to local, dev, test, staging or production (there is no "
    "default, so that a deployment that forgets it cannot run with development credentials)"
)


def require_environment(values: Any) -> Any:
    """A ``model_validator(mode="before")`` body: refuse settings read without ENVIRONMENT."""
    if isinstance(values, dict) and values.get("environment") in (None, ""):
        raise ValueError(MISSING_ENVIRONMENT)
    return values


def check_deployment(environment: Environment, api_key: SecretStr, auth: AuthSettings) -> None:
    """Fail closed: outside development, no published key and no service without an issuer to
    verify tokens against."""
    check_api_key(api_key, environment)
    if not environment.allows_local_key and not (auth.issuer or "").strip():
        raise ValueError(
            f"AUTH_ISSUER is not set, and ENVIRONMENT={environment.value} needs it: the issuer "
            "URL of the Cognito user pool whose tokens this service accepts"
        )
