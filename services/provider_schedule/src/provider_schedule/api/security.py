"""The router dependency that documents the ``X-API-KEY`` scheme in OpenAPI (so that /docs can
send the key); ``eventing.api_key.ApiKeyMiddleware`` enforces it before routing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Security
from pydantic import SecretStr

from eventing.api_key import api_key_scheme, key_matches


def require_api_key(expected: SecretStr) -> Callable[..., Awaitable[None]]:
    async def check(presented: str | None = Security(api_key_scheme)) -> None:
        if not key_matches(presented, expected):
            raise HTTPException(status_code=401, detail="missing or invalid X-API-KEY")

    return check
