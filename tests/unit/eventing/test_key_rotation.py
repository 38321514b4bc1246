"""Key rotation at the issuer: the verifier's cached key set (PyJWKClient) is fetched again when a
token names a kid it has not seen (at most once per cooldown), so a new key is accepted without a
restart, and a key the issuer has withdrawn stops verifying once the set is fetched again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from eventing.identity import TokenRejected, TokenVerifier, jwks_client
from tests.support.tokens import CLIENT, ISSUER, claims, private_key, token


class Issuer:
    """Serves a key set that the test changes, and counts the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0

    def document(self) -> bytes:
        self.fetches += 1
        keys = [
            {
                **RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
                "kid": kid,
                "alg": "RS256",
                "use": "sig",
            }
            for kid, key in self.keys.items()
        ]
        return json.dumps({"keys": keys}).encode()


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    state = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_port}/pool/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def _verifier_of(url: str, *, cooldown: float = 0) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER, audience=CLIENT, keys=jwks_client(url, refetch_cooldown_seconds=cooldown)
    )


def test_a_new_key_is_fetched_once_and_then_served_from_the_cache(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    first, second = private_key(), private_key()
    state.keys = {"k1": first}
    verifier = _verifier_of(url)
    verifier.verify(token(claims(), key=first, kid="k1"))
    verifier.verify(token(claims(), key=first, kid="k1"))
    assert state.fetches == 1  # cached
    state.keys = {"k1": first, "k2": second}  # the issuer rotates
    verifier.verify(token(claims(), key=second, kid="k2"))
    assert state.fetches == 2  # fetched again for the unknown kid, no restart


def test_a_withdrawn_key_is_refused_once_the_set_is_fetched_again(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    old, new = private_key(), private_key()
    state.keys = {"k1": old}
    verifier = _verifier_of(url)
    verifier.verify(token(claims(), key=old, kid="k1"))
    state.keys = {"k2": new}
    verifier.verify(token(claims(), key=new, kid="k2"))  # refetch: k1 gone from the set
    with pytest.raises(TokenRejected):
        verifier.verify(token(claims(), key=old, kid="k1"))


def test_unknown_kids_within_the_cooldown_do_not_fetch_again(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    key = private_key()
    state.keys = {"k1": key}
    verifier = _verifier_of(url, cooldown=30)
    verifier.verify(token(claims(), key=key, kid="k1"))
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        with pytest.raises(TokenRejected):
            verifier.verify(token(claims(), key=key, kid=kid))
    assert state.fetches == 1  # the issuer is not hammered by forged kids
