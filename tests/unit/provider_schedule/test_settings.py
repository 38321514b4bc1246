"""The published default key works locally and nowhere else."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from provider_schedule.settings import DEFAULT_API_KEY, Environment, ProviderScheduleSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "API_KEY", "HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_local_default_needs_no_configuration() -> None:
    settings = ProviderScheduleSettings()
    assert settings.environment is Environment.LOCAL
    assert settings.api_key.get_secret_value() == DEFAULT_API_KEY
    assert settings.http_port == 8090


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_default_key_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    with pytest.raises(ValidationError, match="accepted only with ENVIRONMENT=local, dev or test"):
        ProviderScheduleSettings()


def test_own_key_is_read_from_the_environment_and_kept_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("API_KEY", "s3cret-of-this-deployment")
    settings = ProviderScheduleSettings()
    assert settings.api_key.get_secret_value() == "s3cret-of-this-deployment"
    assert "s3cret" not in repr(settings)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        ProviderScheduleSettings(api_key=SecretStr("  "))
