"""The ``X-API-KEY`` machine credential (CONTRACT.md section 4), checked by
``eventing.authentication.AuthenticationMiddleware`` beside the bearer token.

Health, metrics and the API documents are open. The comparison is constant-time.
``api_key_scheme`` declares the scheme in OpenAPI, so that ``/docs`` shows it and can send the key.
"""

from __future__ import annotations

import secrets

from fastapi.security import APIKeyHeader
from pydantic import SecretStr

API_KEY_HEADER = "X-API-KEY"
OPEN_PATHS = ("/health/", "/metrics", "/docs", "/redoc", "/openapi.json")

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The machine credential, an operator; only in local, dev and test (`LOCAL_DEV`)",
)


def key_matches(presented: str | None, expected: SecretStr) -> bool:
    if presented is None:
        return False
    # Constant time, on bytes: compare_digest refuses non-ASCII str.
    return secrets.compare_digest(presented.encode(), expected.get_secret_value().encode())


# Asked of every request: a set lookup and one C-level ``startswith`` over the tuple, rather
# than a generator over the paths (a few microseconds a request, most of them refusals under
# overload).
_OPEN_EXACTLY = frozenset(open_path.rstrip("/") for open_path in OPEN_PATHS)


def is_open(path: str) -> bool:
    return path in _OPEN_EXACTLY or path.startswith(OPEN_PATHS)
