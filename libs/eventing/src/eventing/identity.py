"""Who is calling: a bearer token (JWT) from the Cognito user pool, verified against its JWKS.

PyJWT's ``PyJWKClient`` fetches the pool's key set, caches it, and fetches it again when a token
names a ``kid`` it has not seen, so a key rotation at the pool is honoured without a restart.
Only RS256 is accepted (what Cognito signs with): a token cannot choose ``none`` or an HMAC key.

Cognito issues two kinds of token for an app client: an ID token names the client in ``aud``, an
access token in ``client_id`` (it has no ``aud``). Both are checked against ``AUTH_AUDIENCE``,
as Cognito's own verification does, by the ``token_use`` the token declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt

ALGORITHMS = ["RS256"]
ROLE_CLAIM = "custom:role"
PATIENT_CLAIM = "custom:patient_id"
PROVIDER_CLAIM = "custom:provider_id"
GROUPS_CLAIM = "cognito:groups"


class Role(StrEnum):
    PATIENT = "patient"
    PROVIDER = "provider"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    patient_id: str | None = None
    provider_id: str | None = None


class TokenRejected(Exception):
    """The token is not one this service accepts; the message says why, never the token."""


class SigningKeys(Protocol):
    """What ``jwt.PyJWKClient`` offers: the key a token's ``kid`` names (fetched if unknown)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


def jwks_client(jwks_url: str, *, refetch_cooldown_seconds: float = 30) -> jwt.PyJWKClient:
    """The set is cached for five minutes and fetched again for an unknown kid (a rotation),
    at most once per cooldown: tokens naming made-up kids cannot make every request a fetch
    from the issuer. A rotated key is served by Cognito before it signs, so the wait is moot."""
    return jwt.PyJWKClient(
        jwks_url,
        cache_jwk_set=True,
        lifespan=300,
        timeout=5,
        cooldown_duration=refetch_cooldown_seconds,
    )


def default_jwks_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/jwks.json"


class TokenVerifier:
    def __init__(
        self, *, issuer: str, audience: str, keys: SigningKeys, leeway_seconds: int = 30
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = keys
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        """Blocking (a JWKS fetch may happen): call it from a worker thread in async code."""
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                leeway=self._leeway,
                # The audience is checked below: an access token carries it as client_id.
                options={"verify_aud": False, "require": ["exp", "iss", "sub", "token_use"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRejected("the token has expired") from error
        except (jwt.PyJWTError, jwt.PyJWKClientError) as error:
            raise TokenRejected(f"the token is not valid: {type(error).__name__}") from error
        self._check_audience(claims)
        return principal_from_claims(claims)

    def _check_audience(self, claims: dict[str, Any]) -> None:
        kind = claims["token_use"]  # Cognito: "id" or "access"
        if kind == "id":
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self._audience not in audiences:
                raise TokenRejected("the token was issued for another client (aud)")
        elif kind == "access":
            if claims.get("client_id") != self._audience:
                raise TokenRejected("the token was issued for another client (client_id)")
        else:
            raise TokenRejected("the token is neither an ID nor an access token")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The role from ``custom:role``, else from exactly one role-named Cognito group; a patient
    or provider must be bound to the record it may see, or it sees nothing."""
    role = _role(claims)
    subject = str(claims["sub"])
    if role is Role.PATIENT:
        return Principal(role, subject, patient_id=_binding(claims, PATIENT_CLAIM))
    if role is Role.PROVIDER:
        return Principal(role, subject, provider_id=_binding(claims, PROVIDER_CLAIM))
    return Principal(role, subject)


def _role(claims: dict[str, Any]) -> Role:
    declared = claims.get(ROLE_CLAIM)
    if declared is not None:
        try:
            return Role(declared)
        except ValueError as error:
            raise TokenRejected("the token's role is not one this service knows") from error
    groups = claims.get(GROUPS_CLAIM) or []
    known = {role.value for role in Role}
    roles = {Role(group) for group in groups if group in known}
    if len(roles) != 1:
        # None or several: guessing the wider one would hand out rights nobody granted.
        raise TokenRejected("the token carries no single role (custom:role or a role group)")
    return roles.pop()


def _binding(claims: dict[str, Any], claim: str) -> str:
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise TokenRejected(f"the token's role needs {claim}, and the token has none")
    return value
