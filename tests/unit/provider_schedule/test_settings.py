"""Fail closed: no default ENVIRONMENT, the published key only in development, an issuer
outside it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from provider_schedule.settings import DEFAULT_API_KEY, Environment, ProviderScheduleSettings

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "API_KEY", "HTTP_PORT", "AUTH_ISSUER"):
        monkeypatch.delenv(name, raising=False)


def test_without_environment_it_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="ENVIRONMENT is not set"):
        ProviderScheduleSettings()


def test_local_needs_nothing_but_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "local")
    settings = ProviderScheduleSettings()
    assert settings.environment is Environment.LOCAL
    assert settings.api_key.get_secret_value() == DEFAULT_API_KEY
    assert settings.http_port == 8090


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_outside_development_it_refuses_the_default_key_and_a_missing_issuer(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    with pytest.raises(ValidationError, match="accepted only with ENVIRONMENT=local, dev or test"):
        ProviderScheduleSettings()
    monkeypatch.setenv("API_KEY", "s3cret-of-this-deployment")
    assert ProviderScheduleSettings().auth.issuer == ISSUER
    monkeypatch.delenv("AUTH_ISSUER")
    with pytest.raises(ValidationError, match="AUTH_ISSUER is not set"):
        ProviderScheduleSettings()


def test_own_key_is_read_from_the_environment_and_kept_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("API_KEY", "s3cret-of-this-deployment")
    settings = ProviderScheduleSettings()
    assert settings.api_key.get_secret_value() == "s3cret-of-this-deployment"
    assert "s3cret" not in repr(settings)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        ProviderScheduleSettings(environment=Environment.LOCAL, api_key=SecretStr("  "))
