"""The AWS tail of the platform (EventBridge bus, rules and targets, SQS queues, DynamoDB table).

``deploy/eventbridge/`` describes the resources as data, the single source for moto locally and
for Terraform in the cloud. This module loads and validates that data (pure), renders the rules
exactly as they are applied (pure, so Terraform tests can compare against it) and applies
everything idempotently to any endpoint: running it twice changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import (
        PutRuleRequestTypeDef,
        PutTargetsRequestTypeDef,
        TargetTypeDef,
    )
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_\-.]+)>")


class ResourceDefinitionError(ValueError):
    """A file under ``deploy/eventbridge`` does not describe a valid resource."""


# --- the data ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventBusSpec:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class InputTransformerSpec:
    input_paths_map: Mapping[str, str]
    input_template: str


@dataclass(frozen=True, slots=True)
class TargetSpec:
    id: str
    queue: str
    input_transformer: InputTransformerSpec | None = None


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    description: str
    event_bus_name: str
    state: str
    event_pattern: Mapping[str, Any]
    targets: tuple[TargetSpec, ...]


@dataclass(frozen=True, slots=True)
class DeadLetterQueueSpec:
    name: str
    message_retention_period: int
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class EventSourceMappingSpec:
    """Applied by Terraform in the cloud and imitated by ``devstack.lambda_runner`` locally."""

    function_name: str
    batch_size: int
    maximum_batching_window_in_seconds: int
    function_response_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    visibility_timeout: int
    message_retention_period: int
    receive_message_wait_time_seconds: int
    dead_letter_queue: DeadLetterQueueSpec
    event_source_mapping: EventSourceMappingSpec | None = None


@dataclass(frozen=True, slots=True)
class TableSpec:
    table_name: str
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AwsResources:
    event_buses: tuple[EventBusSpec, ...]
    rules: tuple[RuleSpec, ...]
    queues: tuple[QueueSpec, ...]
    tables: tuple[TableSpec, ...]

    def queue(self, name: str) -> QueueSpec:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)


def default_resources_dir() -> Path:
    """``deploy/eventbridge`` of the checkout this package is installed from."""
    return Path(__file__).resolve().parents[3] / "deploy" / "eventbridge"


# --- loading and validation (pure) ------------------------------------------------------


def load_aws_resources(resources_dir: Path | None = None) -> AwsResources:
    """Reads ``buses.json``, ``rules/*.json``, ``queues.json`` and ``tables.json``."""
    directory = resources_dir or default_resources_dir()
    buses = _read(directory / "buses.json")
    queues = _read(directory / "queues.json")
    tables = _read(directory / "tables.json")
    rule_files = sorted((directory / "rules").glob("*.json"))
    if not rule_files:
        raise ResourceDefinitionError(f"no rules in {directory / 'rules'}")
    return parse_aws_resources(
        buses=buses, rules=[_read(path) for path in rule_files], queues=queues, tables=tables
    )


def parse_aws_resources(*, buses: Any, rules: list[Any], queues: Any, tables: Any) -> AwsResources:
    """Validates the decoded JSON documents and checks that every reference resolves."""
    resources = AwsResources(
        event_buses=tuple(_bus(item) for item in _list(buses, "EventBuses", "buses.json")),
        rules=tuple(_rule(document) for document in rules),
        queues=tuple(_queue(item) for item in _list(queues, "Queues", "queues.json")),
        tables=tuple(_table(item) for item in _list(tables, "Tables", "tables.json")),
    )
    _check_references(resources)
    return resources


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResourceDefinitionError(f"{path}: {error}") from error


def _field(document: Any, key: str, where: str, kind: type) -> Any:
    if not isinstance(document, dict) or key not in document:
        raise ResourceDefinitionError(f"{where}: missing {key!r}")
    value = document[key]
    # bool is an int in Python; a JSON true is never a valid count or timeout here.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ResourceDefinitionError(f"{where}: {key!r} has the wrong type")
    return value


def _list(document: Any, key: str, where: str) -> list[Any]:
    value: list[Any] = _field(document, key, where, list)
    return value


def _bounded(document: Any, key: str, where: str, low: int, high: int) -> int:
    value: int = _field(document, key, where, int)
    if not low <= value <= high:
        raise ResourceDefinitionError(f"{where}: {key!r} must be within {low}..{high}")
    return value


def _bus(item: Any) -> EventBusSpec:
    name = _field(item, "Name", "buses.json", str)
    return EventBusSpec(name=name, description=item.get("Description", ""))


def _rule(document: Any) -> RuleSpec:
    name = _field(document, "Name", "rule", str)
    where = f"rule {name}"
    pattern = _field(document, "EventPattern", where, dict)
    if not pattern:
        raise ResourceDefinitionError(f"{where}: an empty EventPattern would match every event")
    state = document.get("State", "ENABLED")
    if state not in ("ENABLED", "DISABLED"):
        raise ResourceDefinitionError(f"{where}: State must be ENABLED or DISABLED")
    targets = tuple(_target(item, where) for item in _list(document, "Targets", where))
    if not targets:
        raise ResourceDefinitionError(f"{where}: no Targets")
    return RuleSpec(
        name=name,
        description=document.get("Description", ""),
        event_bus_name=_field(document, "EventBusName", where, str),
        state=state,
        event_pattern=pattern,
        targets=targets,
    )


def _target(item: Any, where: str) -> TargetSpec:
    target_id = _field(item, "Id", where, str)
    queue = _field(item, "Queue", f"{where} target {target_id}", str)
    transformer = item.get("InputTransformer")
    if transformer is None:
        return TargetSpec(id=target_id, queue=queue)
    where = f"{where} target {target_id} InputTransformer"
    paths = _field(transformer, "InputPathsMap", where, dict)
    template = _field(transformer, "InputTemplate", where, str)
    unknown = set(_PLACEHOLDER.findall(template)) - set(paths) - {"aws.events.event.json"}
    if unknown:
        raise ResourceDefinitionError(f"{where}: placeholders {sorted(unknown)} not in paths map")
    return TargetSpec(
        id=target_id,
        queue=queue,
        input_transformer=InputTransformerSpec(input_paths_map=paths, input_template=template),
    )


def _queue(item: Any) -> QueueSpec:
    name = _field(item, "Name", "queues.json", str)
    where = f"queue {name}"
    dlq = _field(item, "DeadLetterQueue", where, dict)
    dlq_where = f"{where} DeadLetterQueue"
    mapping = item.get("EventSourceMapping")
    return QueueSpec(
        name=name,
        visibility_timeout=_bounded(item, "VisibilityTimeout", where, 0, 43_200),
        message_retention_period=_bounded(item, "MessageRetentionPeriod", where, 60, 1_209_600),
        receive_message_wait_time_seconds=_bounded(
            item, "ReceiveMessageWaitTimeSeconds", where, 0, 20
        ),
        dead_letter_queue=DeadLetterQueueSpec(
            name=_field(dlq, "Name", dlq_where, str),
            message_retention_period=_bounded(
                dlq, "MessageRetentionPeriod", dlq_where, 60, 1_209_600
            ),
            max_receive_count=_bounded(dlq, "MaxReceiveCount", dlq_where, 1, 1_000),
        ),
        event_source_mapping=None if mapping is None else _mapping(mapping, where),
    )


def _mapping(item: Any, where: str) -> EventSourceMappingSpec:
    where = f"{where} EventSourceMapping"
    return EventSourceMappingSpec(
        function_name=_field(item, "FunctionName", where, str),
        batch_size=_bounded(item, "BatchSize", where, 1, 10_000),
        maximum_batching_window_in_seconds=_bounded(
            item, "MaximumBatchingWindowInSeconds", where, 0, 300
        ),
        function_response_types=tuple(_list(item, "FunctionResponseTypes", where)),
    )


def _table(item: Any) -> TableSpec:
    name = _field(item, "TableName", "tables.json", str)
    where = f"table {name}"
    _list(item, "KeySchema", where)
    _list(item, "AttributeDefinitions", where)
    if item.get("BillingMode") != "PAY_PER_REQUEST":
        raise ResourceDefinitionError(f"{where}: BillingMode must be PAY_PER_REQUEST (on demand)")
    return TableSpec(table_name=name, definition=item)


def _check_references(resources: AwsResources) -> None:
    buses = {bus.name for bus in resources.event_buses} | {"default"}
    queues = {queue.name for queue in resources.queues}
    for rule in resources.rules:
        if rule.event_bus_name not in buses:
            raise ResourceDefinitionError(f"rule {rule.name}: unknown bus {rule.event_bus_name}")
        for target in rule.targets:
            if target.queue not in queues:
                raise ResourceDefinitionError(f"rule {rule.name}: unknown queue {target.queue}")
    names = [rule.name for rule in resources.rules]
    if len(names) != len(set(names)):
        raise ResourceDefinitionError("rule names must be unique")


# --- rendering (pure) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleRequest:
    """The PutRule and PutTargets requests one rule file turns into."""

    put_rule: PutRuleRequestTypeDef
    put_targets: PutTargetsRequestTypeDef


def queue_arn_for(queue_name: str, *, region: str, account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:sqs:{region}:{account_id}:{queue_name}"


def rule_requests(resources: AwsResources, *, queue_arn: Callable[[str], str]) -> list[RuleRequest]:
    """The rules exactly as ``apply_aws_resources`` sends them, queue names resolved to ARNs."""
    requests: list[RuleRequest] = []
    for rule in resources.rules:
        targets: list[TargetTypeDef] = []
        for target in rule.targets:
            rendered: TargetTypeDef = {"Id": target.id, "Arn": queue_arn(target.queue)}
            if target.input_transformer is not None:
                rendered["InputTransformer"] = {
                    "InputPathsMap": dict(target.input_transformer.input_paths_map),
                    "InputTemplate": target.input_transformer.input_template,
                }
            targets.append(rendered)
        requests.append(
            RuleRequest(
                put_rule={
                    "Name": rule.name,
                    "EventBusName": rule.event_bus_name,
                    "EventPattern": json.dumps(rule.event_pattern, separators=(",", ":")),
                    "State": rule.state,  # type: ignore[typeddict-item]
                    "Description": rule.description,
                },
                put_targets={
                    "Rule": rule.name,
                    "EventBusName": rule.event_bus_name,
                    "Targets": targets,
                },
            )
        )
    return requests


def queue_policy(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    """Lets exactly the given rules (and nobody else through EventBridge) send to the queue."""
    return {
        "Version": "2012-10-17",
        "Id": f"{queue_arn}/eventbridge",
        "Statement": [
            {
                "Sid": f"AllowEventBridgeRule{index}",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
            for index, rule_arn in enumerate(sorted(rule_arns))
        ],
    }


# --- applying ---------------------------------------------------------------------------


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
