"""The ``X-API-KEY`` check of every HTTP service (CONTRACT.md section 4).

It runs as ASGI middleware, before routing and body parsing, so that a caller without the key
learns nothing, not even whether its JSON was valid. Health, metrics and the API documents are
open. The comparison is constant-time. ``api_key_scheme`` declares the scheme in OpenAPI, so
that ``/docs`` shows it and can send the key.
"""

from __future__ import annotations

import json
import secrets

from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from eventing.problems import PROBLEM_JSON, unauthorized_problem

API_KEY_HEADER = "X-API-KEY"
OPEN_PATHS = ("/health/", "/metrics", "/docs", "/redoc", "/openapi.json")

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The platform's API key (locally `LOCAL_DEV`)",
)


def key_matches(presented: str | None, expected: SecretStr) -> bool:
    if presented is None:
        return False
    # Constant time, on bytes: compare_digest refuses non-ASCII str.
    return secrets.compare_digest(presented.encode(), expected.get_secret_value().encode())


def is_open(path: str) -> bool:
    return any(
        path == open_path.rstrip("/") or path.startswith(open_path) for open_path in OPEN_PATHS
    )


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, api_key: SecretStr) -> None:
        self._app = app
        self._api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self._app(scope, receive, send)
            return
        presented = next(
            (
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name.decode("latin-1").lower() == API_KEY_HEADER.lower()
            ),
            None,
        )
        if key_matches(presented, self._api_key):
            await self._app(scope, receive, send)
            return
        message = "missing X-API-KEY header" if presented is None else "invalid X-API-KEY"
        body = json.dumps(unauthorized_problem(scope["path"], message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"ApiKey"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
