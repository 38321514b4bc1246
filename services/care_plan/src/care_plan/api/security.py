"""The ``X-API-KEY`` check, as ASGI middleware so that it runs before anything reads the body.

Health, metrics and the API documentation are open (CONTRACT.md section 4); the comparison is
constant-time.
"""

from __future__ import annotations

import hmac
import json

from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

API_KEY_HEADER = "X-API-KEY"
OPEN_PATHS = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)

# Declares the scheme in the OpenAPI document (the "Authorize" button of /docs); the
# middleware below enforces it.
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="The platform's API key (LOCAL_DEV locally)"
)


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, api_key: str) -> None:
        self._app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        provided = next((value for name, value in scope["headers"] if name == b"x-api-key"), b"")
        if hmac.compare_digest(provided, self._expected):
            await self._app(scope, receive, send)
            return
        message = "missing X-API-KEY header" if not provided else "invalid API key"
        body = json.dumps({"error": "unauthorized", "message": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"ApiKey"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
