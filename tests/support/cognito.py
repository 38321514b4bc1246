"""Real tokens of moto's Cognito for the integration tests: the pool ``careplan up`` makes
(devstack.cognito), on the test session's moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from devstack.cognito import LocalPool, ensure_pool, issue_token
from devstack.moto import aws_client
from devstack.settings import DevstackSettings
from eventing.settings import AuthSettings


@dataclass(frozen=True)
class LocalIdentities:
    settings: DevstackSettings
    pool: LocalPool

    @classmethod
    def of(cls, settings: DevstackSettings) -> LocalIdentities:
        cognito = aws_client(settings, "cognito-idp")
        pool = ensure_pool(cognito, endpoint=settings.aws_endpoint, region=settings.aws_region)
        return cls(settings, pool)

    @property
    def auth(self) -> AuthSettings:
        return AuthSettings(
            issuer=self.pool.issuer, audience=self.pool.client_id, jwks_url=self.pool.jwks_url
        )

    def token(
        self, role: str, *, patient_id: str | None = None, provider_id: str | None = None
    ) -> str:
        cognito = aws_client(self.settings, "cognito-idp")
        return issue_token(
            cognito, self.pool, role=role, patient_id=patient_id, provider_id=provider_id
        )

    def headers(self, role: str, **binding: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **binding)}"}


def resigned(token: str, *, key: Any, **changes: Any) -> str:
    """The claims and kid of a real token, changed and signed again with ``key``."""
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def moto_signing_key() -> Any:
    """The private key moto signs every token with (it ships with moto, the same for all): to
    make a token that only its expiry makes invalid."""
    from moto.utilities.utils import load_resource

    document = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.PyJWK(document).key
