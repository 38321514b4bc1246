"""Care Plan's settings fail closed as Provider Schedule's do (the rules live in
eventing.settings; tests/unit/provider_schedule/test_settings.py has the full set)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from care_plan.settings import Settings
from eventing.settings import AuthSettings, Environment

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "API_KEY", "AUTH_ISSUER"):
        monkeypatch.delenv(name, raising=False)


def test_care_plan_refuses_to_start_without_environment() -> None:
    with pytest.raises(ValidationError, match="ENVIRONMENT is not set"):
        Settings()


def test_care_plan_in_production_refuses_the_published_key() -> None:
    with pytest.raises(ValidationError, match="published default 'LOCAL_DEV'"):
        Settings(environment=Environment.PRODUCTION, auth=AuthSettings(issuer=ISSUER))


def test_care_plan_in_production_refuses_to_start_without_an_issuer() -> None:
    with pytest.raises(ValidationError, match="AUTH_ISSUER is not set"):
        Settings(environment=Environment.PRODUCTION, api_key=SecretStr("own-key"))


def test_care_plan_in_production_starts_with_its_own_key_and_an_issuer() -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        api_key=SecretStr("own-key"),
        auth=AuthSettings(issuer=ISSUER),
    )
    assert settings.auth.issuer == ISSUER
