"""Tokens signed with keys made here (cryptography), and the key set a verifier reads them with:
for unit tests of verification and authorization, without a Cognito."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from eventing.identity import TokenVerifier

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool"
CLIENT = "app-client"


def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeysByKid:
    """The JWKS as a service sees it: the public keys by kid."""

    def __init__(self, **keys: rsa.RSAPrivateKey) -> None:
        self._keys = {
            kid: jwt.PyJWK(
                {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256"}
            )
            for kid, key in keys.items()
        }

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self._keys:
            raise jwt.PyJWKClientError(f"no key {kid}")
        return self._keys[kid]


SIGNING_KEY = private_key()
VERIFIER = TokenVerifier(issuer=ISSUER, audience=CLIENT, keys=KeysByKid(k1=SIGNING_KEY))


def claims(**overrides: Any) -> dict[str, Any]:
    """An ID token of patient p-1; an override of None removes the claim."""
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT,
        "token_use": "id",
        # A day ahead: parametrized cases build their claims when pytest collects, and the
        # suite runs unit tests after a quarter of an hour of end-to-end ones.
        "exp": int(time.time()) + 24 * 3600,
        "custom:role": "patient",
        "custom:patient_id": "p-1",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def token(values: dict[str, Any], key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = "k1") -> str:
    return jwt.encode(values, key, algorithm="RS256", headers={"kid": kid})
