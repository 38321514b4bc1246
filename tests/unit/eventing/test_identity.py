"""Token verification with keys made here (cryptography): issuer, audience (aud or client_id),
expiry, signature, algorithm and the role binding."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from eventing.identity import Principal, Role, TokenRejected, TokenVerifier

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool"
CLIENT = "app-client"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeysByKid:
    """The JWKS as the service sees it: the public keys by kid."""

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


SIGNING_KEY = _private_key()
VERIFIER = TokenVerifier(issuer=ISSUER, audience=CLIENT, keys=KeysByKid(k1=SIGNING_KEY))


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT,
        "token_use": "id",
        "exp": int(time.time()) + 600,
        "custom:role": "patient",
        "custom:patient_id": "p-1",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _token(claims: dict[str, Any], key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = "k1") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_an_id_token_names_the_patient_it_is_bound_to() -> None:
    assert VERIFIER.verify(_token(_claims())) == Principal(Role.PATIENT, "user-1", patient_id="p-1")


def test_an_access_token_is_checked_by_client_id_and_takes_its_role_from_a_group() -> None:
    claims = _claims(aud=None, token_use="access", client_id=CLIENT, **{"custom:role": None}) | {
        "cognito:groups": ["operator"]
    }
    assert VERIFIER.verify(_token(claims)) == Principal(Role.OPERATOR, "user-1")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=int(time.time()) - 120), "expired"),
        (_claims(iss="https://cognito-idp.eu-west-1.amazonaws.com/other"), "InvalidIssuer"),
        (_claims(aud="other-client"), "another client (aud)"),
        (_claims(aud=None, token_use="access", client_id="other-client"), "(client_id)"),
        (_claims(token_use="refresh"), "neither an ID nor an access token"),
        (_claims(exp=None), "MissingRequiredClaim"),
        (_claims(**{"custom:patient_id": None}), "needs custom:patient_id"),
        (_claims(**{"custom:role": "admin"}), "role is not one"),
        (_claims(**{"custom:role": None}) | {"cognito:groups": ["operator", "patient"]}, "single"),
    ],
)
def test_a_token_outside_what_is_accepted_is_rejected(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        VERIFIER.verify(_token(claims))


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected() -> None:
    with pytest.raises(TokenRejected, match="InvalidSignatureError"):
        VERIFIER.verify(_token(_claims(), key=_private_key()))


def test_a_token_naming_an_unknown_kid_is_rejected() -> None:
    with pytest.raises(TokenRejected, match="PyJWKClientError"):
        VERIFIER.verify(_token(_claims(), kid="k9"))


def test_a_token_signed_with_hmac_over_the_public_key_is_rejected() -> None:
    # The classic algorithm confusion: only RS256 is accepted, whatever the header says.
    forged = jwt.api_jws.PyJWS().encode(
        jwt.utils.force_bytes('{"sub":"x"}'),
        b"a-shared-secret-of-32-bytes-long",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(TokenRejected, match="InvalidAlgorithmError"):
        VERIFIER.verify(forged)


def test_a_provider_token_is_bound_to_its_provider() -> None:
    claims = _claims(**{"custom:role": "provider", "custom:patient_id": None}) | {
        "custom:provider_id": "dr-7"
    }
    assert VERIFIER.verify(_token(claims)) == Principal(Role.PROVIDER, "user-1", provider_id="dr-7")
