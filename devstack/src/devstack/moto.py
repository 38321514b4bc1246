"""moto in server mode on port 4566, standing in for EventBridge, SQS, DynamoDB and Cognito."""

from __future__ import annotations

import sys
from collections.abc import Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from devstack.component import Component, NotReadyError, Tier
from devstack.settings import DevstackSettings


def command(settings: DevstackSettings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devstack.moto_server",
        "-H",
        "127.0.0.1",
        "-p",
        str(settings.moto_port),
    ]


def aws_client(settings: DevstackSettings, service: str) -> object:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=settings.aws_endpoint,
        region_name=settings.aws_region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any credentials
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def ready(settings: DevstackSettings) -> None:
    try:
        aws_client(settings, "events").list_event_buses()  # type: ignore[attr-defined]
    except (BotoCoreError, ClientError) as error:
        raise NotReadyError(str(error)) from error


def provision(settings: DevstackSettings) -> None:
    """The bus, rules, queues and table of deploy/eventbridge: the same files the cloud uses;
    and the user pool whose tokens the services accept (devstack.cognito)."""
    from devstack.aws_bootstrap import apply_to_endpoint
    from devstack.cognito import ensure_pool, save_pool

    apply_to_endpoint(settings.aws_endpoint, settings.aws_region)
    pool = ensure_pool(
        aws_client(settings, "cognito-idp"),
        endpoint=settings.aws_endpoint,
        region=settings.aws_region,
    )
    save_pool(settings.state_dir, pool)


def queue_ready(queue_name: str) -> Callable[[DevstackSettings], None]:
    def ready(settings: DevstackSettings) -> None:
        try:
            aws_client(settings, "sqs").get_queue_url(QueueName=queue_name)  # type: ignore[attr-defined]
        except (BotoCoreError, ClientError) as error:
            raise NotReadyError(str(error)) from error

    return ready


MOTO = Component(
    name="moto",
    tier=Tier.INFRASTRUCTURE,
    command=command,
    ready=ready,
    address=lambda s: s.aws_endpoint,
    ports=lambda s: (s.moto_port,),
    provision=provision,
    external=lambda s: s.aws_endpoint_url is not None,
    environment=lambda s: {"MOTO_PORT": str(s.moto_port)},
)
