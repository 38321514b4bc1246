"""The local Cognito user pool (moto's cognito-idp) and the tokens ``careplan token`` prints.

moto signs its tokens with one fixed key and serves the key set at
``<endpoint>/<pool id>/.well-known/jwks.json``; the ``iss`` of its tokens is the cloud form
``https://cognito-idp.<region>.amazonaws.com/<pool id>``. So the services get AUTH_ISSUER in
that form, AUTH_JWKS_URL at moto, and AUTH_AUDIENCE the app client id, as on EKS.

The pool is made when moto is provisioned and its ids are kept in the state folder
(``cognito.json``), where the services' environment and ``careplan token`` read them. A user is
made per role and binding (``patient-<id>``, ``provider-<id>``, ``operator``), with the role and
binding in the admin-only custom attributes that Terraform's pool declares too
(deploy/terraform/cognito.tf); the printed token is the ID token, which carries them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

POOL_NAME = "careplan-local"
CLIENT_NAME = "careplan-apis"
STATE_FILE = "cognito.json"
CUSTOM_ATTRIBUTES = ("role", "patient_id", "provider_id")


@dataclass(frozen=True)
class LocalPool:
    pool_id: str
    client_id: str
    issuer: str
    jwks_url: str

    def auth_environment(self) -> dict[str, str]:
        return {
            "AUTH_ISSUER": self.issuer,
            "AUTH_AUDIENCE": self.client_id,
            "AUTH_JWKS_URL": self.jwks_url,
        }


def ensure_pool(cognito: Any, *, endpoint: str, region: str) -> LocalPool:
    """The pool and app client, made once per moto run (moto keeps them in memory)."""
    pool_id = next(
        (
            pool["Id"]
            for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]
            if pool["Name"] == POOL_NAME
        ),
        None,
    )
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=POOL_NAME,
            Schema=[
                {"Name": name, "AttributeDataType": "String", "Mutable": True}
                for name in CUSTOM_ATTRIBUTES
            ],
        )["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == CLIENT_NAME), None)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
    return LocalPool(
        pool_id=pool_id,
        client_id=client_id,
        issuer=f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        jwks_url=f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json",
    )


def save_pool(state_dir: Path, pool: LocalPool) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(asdict(pool)), encoding="utf-8")


def load_pool(state_dir: Path) -> LocalPool | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    return LocalPool(**json.loads(path.read_text(encoding="utf-8")))


def issue_token(
    cognito: Any,
    pool: LocalPool,
    *,
    role: str,
    patient_id: str | None = None,
    provider_id: str | None = None,
) -> str:
    """An ID token of the user for this role and binding (made on first use)."""
    bound = patient_id or provider_id
    username = f"{role}-{bound}" if bound else role
    attributes = {"custom:role": role}
    if patient_id:
        attributes["custom:patient_id"] = patient_id
    if provider_id:
        attributes["custom:provider_id"] = provider_id
    try:
        cognito.admin_create_user(
            UserPoolId=pool.pool_id,
            Username=username,
            UserAttributes=[{"Name": name, "Value": value} for name, value in attributes.items()],
            MessageAction="SUPPRESS",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UsernameExistsException":
            raise
    # A fresh throwaway password each time: nothing to keep, nothing to leak.
    password = secrets.token_urlsafe(24) + "aA1!"
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True
    )
    result = cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])
