"""Who may call an HTTP service: a Cognito bearer token, or the ``X-API-KEY`` machine credential.

``AuthenticationMiddleware`` runs before routing and body parsing, so that a caller without a
credential learns nothing (not even whether its JSON was valid) and gets 401, never 429. It puts
the caller's ``Principal`` in the request state; the routes' dependencies (``Caller``) read it and
decide what the caller may see (``eventing.authorization``). Health, metrics and the API
documents are open. The API key stands for the role operator and is accepted only where the
environment allows the development credentials (local, dev, test): the original's Java clients
and the tests keep working there, and nowhere else does a shared secret open every record.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from eventing.api_key import API_KEY_HEADER, api_key_scheme, is_open, key_matches
from eventing.identity import (
    Principal,
    Role,
    TokenRejected,
    TokenVerifier,
    default_jwks_url,
    jwks_client,
)
from eventing.problems import PROBLEM_JSON, unauthorized_problem
from eventing.settings import AuthSettings, Environment

PRINCIPAL_STATE = "principal"
MACHINE_SUBJECT = "api-key"

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A Cognito user pool token (locally: `careplan token --patient ID`)",
)


def token_verifier(auth: AuthSettings) -> TokenVerifier | None:
    """The verifier of the configured pool; None where no issuer is set (local without Cognito:
    then only the API key opens the service)."""
    issuer = (auth.issuer or "").strip()
    if not issuer:
        return None
    if not (auth.audience or "").strip():
        raise ValueError("AUTH_AUDIENCE is not set: the app client id the tokens are issued for")
    keys = jwks_client(auth.jwks_url or default_jwks_url(issuer))
    return TokenVerifier(issuer=issuer, audience=str(auth.audience), keys=keys)


def _header(scope: Scope, wanted: str) -> str | None:
    # ASGI servers lowercase header names, and Starlette's ``Headers`` relies on it too: the
    # names are compared as bytes, not decoded and lowercased one by one on every request.
    key = wanted.lower().encode("latin-1")
    for name, value in scope["headers"]:
        if name == key:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


class AuthenticationMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier | None,
        api_key: SecretStr,
        accept_api_key: bool,
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._api_key = api_key
        self._accept_api_key = accept_api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self._app(scope, receive, send)
            return
        principal, refusal = await self._authenticate(scope)
        if principal is None:
            await self._unauthorized(scope, send, refusal)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await self._app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> tuple[Principal | None, str]:
        authorization = _header(scope, "authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "the Authorization header is not a bearer token"
            if self._verifier is None:
                return None, "this service is not configured to accept bearer tokens"
            try:
                # A JWKS fetch blocks: off the event loop.
                return await run_in_threadpool(self._verifier.verify, token.strip()), ""
            except TokenRejected as rejected:
                return None, str(rejected)
        presented = _header(scope, API_KEY_HEADER)
        if presented is None:
            return None, "missing credentials: a bearer token or X-API-KEY"
        if not self._accept_api_key:
            return None, "X-API-KEY is not accepted in this environment; use a bearer token"
        if key_matches(presented, self._api_key):
            return Principal(Role.OPERATOR, MACHINE_SUBJECT), ""
        return None, "invalid X-API-KEY"

    async def _unauthorized(self, scope: Scope, send: Send, message: str) -> None:
        body = json.dumps(unauthorized_problem(scope["path"], message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer, ApiKey header="X-API-KEY"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def add_authentication(
    app: FastAPI,
    *,
    auth: AuthSettings,
    api_key: SecretStr,
    environment: Environment,
) -> None:
    """The middleware as every HTTP service configures it: the API key only where the
    environment allows the development credentials."""
    app.add_middleware(
        AuthenticationMiddleware,
        verifier=token_verifier(auth),
        api_key=api_key,
        accept_api_key=environment.allows_local_key,
    )


async def current_principal(
    request: Request,
    # Declared so that OpenAPI documents both schemes; the middleware has checked them.
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    principal: Principal = getattr(request.state, PRINCIPAL_STATE)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
