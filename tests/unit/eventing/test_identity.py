"""Token verification with keys made here (cryptography): issuer, audience (aud or client_id),
expiry, signature, algorithm and the role binding."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from eventing.identity import Principal, Role, TokenRejected
from tests.support.tokens import CLIENT, VERIFIER, private_key
from tests.support.tokens import claims as _claims
from tests.support.tokens import token as _token


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
        (_claims(exp=1), "expired"),
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
        VERIFIER.verify(_token(_claims(), key=private_key()))


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
