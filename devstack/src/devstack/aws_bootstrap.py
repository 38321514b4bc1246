"""The AWS tail of the platform (EventBridge bus, rules and targets, SQS queues, DynamoDB table),
applied idempotently to any endpoint: running it twice changes nothing.

What is applied is the data of ``deploy/eventbridge/``, loaded and validated by
``devstack.aws_resources`` (pure; its names are re-exported here for the callers of old).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from devstack.aws_resources import (
    AwsResources,
    EventBusSpec,
    QueueSpec,
    ResourceDefinitionError,
    RuleRequest,
    TableSpec,
    default_resources_dir,
    load_aws_resources,
    parse_aws_resources,
    queue_arn_for,
    queue_policy,
    rule_requests,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutTargetsRequestTypeDef
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = [
    "AppliedResources",
    "AwsClients",
    "AwsResources",
    "ResourceDefinitionError",
    "RuleRequest",
    "apply_aws_resources",
    "apply_to_endpoint",
    "default_resources_dir",
    "load_aws_resources",
    "parse_aws_resources",
    "queue_arn_for",
    "queue_policy",
    "rule_requests",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AwsClients:
    events: EventBridgeClient
    sqs: SQSClient
    dynamodb: DynamoDBClient

    @classmethod
    def from_session(cls, session: boto3.Session, *, endpoint_url: str | None = None) -> AwsClients:
        """Without ``endpoint_url`` boto3 uses ``AWS_ENDPOINT_URL`` if set, else real AWS."""
        return cls(
            events=session.client("events", endpoint_url=endpoint_url),
            sqs=session.client("sqs", endpoint_url=endpoint_url),
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
        )


@dataclass(frozen=True, slots=True)
class AppliedResources:
    event_bus_arns: dict[str, str]
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    rule_arns: dict[str, str]
    table_names: tuple[str, ...]


def apply_aws_resources(
    session_or_clients: boto3.Session | AwsClients, resources_dir: Path | None = None
) -> AppliedResources:
    """Creates or updates the bus, queues with DLQs and policies, rules, targets and tables."""
    clients = (
        session_or_clients
        if isinstance(session_or_clients, AwsClients)
        else AwsClients.from_session(session_or_clients)
    )
    resources = load_aws_resources(resources_dir)
    bus_arns = {bus.name: _ensure_bus(clients.events, bus) for bus in resources.event_buses}
    queue_urls: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    for queue in resources.queues:
        _ensure_queue_with_dlq(clients.sqs, queue, queue_urls, queue_arns)
    requests = rule_requests(resources, queue_arn=queue_arns.__getitem__)
    rule_arns = {
        request.put_rule["Name"]: clients.events.put_rule(**request.put_rule)["RuleArn"]
        for request in requests
    }
    _grant_rules_access(clients.sqs, resources, queue_urls, queue_arns, rule_arns)
    for request in requests:
        _replace_targets(clients.events, request.put_targets)
    for table in resources.tables:
        _ensure_table(clients.dynamodb, table)
    logger.info(
        "AWS resources applied",
        extra={"buses": sorted(bus_arns), "queues": sorted(queue_urls), "rules": sorted(rule_arns)},
    )
    return AppliedResources(
        event_bus_arns=bus_arns,
        queue_urls=queue_urls,
        queue_arns=queue_arns,
        rule_arns=rule_arns,
        table_names=tuple(table.table_name for table in resources.tables),
    )


def apply_to_endpoint(
    endpoint_url: str, region: str, resources_dir: Path | None = None
) -> AppliedResources:
    """Applies to a local endpoint (moto); falls back to dummy credentials that moto accepts."""
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        session = boto3.Session(
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto accepts any credentials)
        )
    applied = apply_aws_resources(
        AwsClients.from_session(session, endpoint_url=endpoint_url), resources_dir
    )
    _verify_local_sender(session.client("sesv2", endpoint_url=endpoint_url))
    return applied


# The Patient Notifications function sends from this domain locally (its NOTIFICATION_SENDER
# default). moto, like SES, refuses a sender whose identity is not verified; in the cloud the
# identity is Terraform's (var.notification_sender_domain) and needs DNS records, so it is not
# data in deploy/eventbridge.
LOCAL_SENDER_DOMAIN = "careplan.example"


def _verify_local_sender(sesv2: Any) -> None:
    try:
        sesv2.create_email_identity(EmailIdentity=LOCAL_SENDER_DOMAIN)
    except ClientError as error:
        if _error_code(error) != "AlreadyExistsException":
            raise


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _ensure_bus(events: EventBridgeClient, bus: EventBusSpec) -> str:
    try:
        if bus.description:
            return events.create_event_bus(Name=bus.name, Description=bus.description)[
                "EventBusArn"
            ]
        return events.create_event_bus(Name=bus.name)["EventBusArn"]
    except ClientError as error:
        if _error_code(error) != "ResourceAlreadyExistsException":
            raise
    return events.describe_event_bus(Name=bus.name)["Arn"]


def _ensure_queue(
    sqs: SQSClient, name: str, attributes: Mapping[QueueAttributeNameType, str]
) -> tuple[str, str]:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _ensure_queue_with_dlq(
    sqs: SQSClient, queue: QueueSpec, urls: dict[str, str], arns: dict[str, str]
) -> None:
    dlq = queue.dead_letter_queue
    dlq_url, dlq_arn = _ensure_queue(
        sqs, dlq.name, {"MessageRetentionPeriod": str(dlq.message_retention_period)}
    )
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": dlq.max_receive_count}
    url, arn = _ensure_queue(
        sqs,
        queue.name,
        {
            "VisibilityTimeout": str(queue.visibility_timeout),
            "MessageRetentionPeriod": str(queue.message_retention_period),
            "ReceiveMessageWaitTimeSeconds": str(queue.receive_message_wait_time_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    urls.update({dlq.name: dlq_url, queue.name: url})
    arns.update({dlq.name: dlq_arn, queue.name: arn})


def _grant_rules_access(
    sqs: SQSClient,
    resources: AwsResources,
    urls: Mapping[str, str],
    arns: Mapping[str, str],
    rule_arns: Mapping[str, str],
) -> None:
    senders: dict[str, list[str]] = {}
    for rule in resources.rules:
        for target in rule.targets:
            senders.setdefault(target.queue, []).append(rule_arns[rule.name])
    for queue_name, rules in senders.items():
        policy = queue_policy(arns[queue_name], rules)
        sqs.set_queue_attributes(
            QueueUrl=urls[queue_name], Attributes={"Policy": json.dumps(policy)}
        )


def _replace_targets(events: EventBridgeClient, request: PutTargetsRequestTypeDef) -> None:
    wanted = {target["Id"] for target in request["Targets"]}
    existing = events.list_targets_by_rule(
        Rule=request["Rule"], EventBusName=request["EventBusName"]
    )
    stale = [target["Id"] for target in existing.get("Targets", []) if target["Id"] not in wanted]
    if stale:
        events.remove_targets(Rule=request["Rule"], EventBusName=request["EventBusName"], Ids=stale)
    response = events.put_targets(**request)
    if response.get("FailedEntryCount", 0):
        raise RuntimeError(f"PutTargets failed for {request['Rule']}: {response['FailedEntries']}")


def _ensure_table(dynamodb: DynamoDBClient, table: TableSpec) -> None:
    definition: CreateTableInputTypeDef = dict(table.definition)  # type: ignore[assignment]
    try:
        dynamodb.create_table(**definition)
    except ClientError as error:
        if _error_code(error) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=table.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def main() -> None:
    """``python -m devstack.aws_bootstrap``: apply deploy/eventbridge to AWS_ENDPOINT_URL or AWS.

    ``AWS_RESOURCES_DIR`` names the folder when the package is installed outside the checkout
    (the lambda-local image copies deploy/eventbridge next to its virtual environment).
    """
    import os

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    configured = os.environ.get("AWS_RESOURCES_DIR")
    resources_dir = Path(configured) if configured else None
    if endpoint:
        applied = apply_to_endpoint(endpoint, region, resources_dir)
    else:
        applied = apply_aws_resources(
            AwsClients.from_session(boto3.Session(region_name=region)), resources_dir
        )
    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info("applied", extra={"rules": list(applied.rule_arns)})


if __name__ == "__main__":
    main()
