"""The AWS tail of the platform as data: ``deploy/eventbridge/`` loaded and validated (pure).

``deploy/eventbridge/`` describes the bus, rules and targets, SQS queues and the DynamoDB table,
the single source for moto locally and for Terraform in the cloud. The files use the AWS API's
PascalCase names; pydantic models read them (strict types: a JSON ``true`` is never a count),
check the bounds AWS enforces, and the references between the files. ``rule_requests`` renders
the rules exactly as ``devstack.aws_bootstrap`` applies them, so Terraform tests compare
against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import (
        PutRuleRequestTypeDef,
        PutTargetsRequestTypeDef,
        TargetTypeDef,
    )

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_\-.]+)>")
# Placeholders EventBridge fills itself, without an InputPathsMap entry.
_PREDEFINED_PLACEHOLDERS = {"aws.events.event.json"}


class ResourceDefinitionError(ValueError):
    """A file under ``deploy/eventbridge`` does not describe a valid resource."""


class _Spec(BaseModel):
    # Attributes in snake_case, read from the API's PascalCase names; immutable once loaded.
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventBusSpec(_Spec):
    name: StrictStr = Field(alias="Name")
    description: StrictStr = Field(default="", alias="Description")


class InputTransformerSpec(_Spec):
    input_paths_map: dict[str, StrictStr] = Field(alias="InputPathsMap")
    input_template: StrictStr = Field(alias="InputTemplate")

    @model_validator(mode="after")
    def _placeholders_resolve(self) -> InputTransformerSpec:
        found = set(_PLACEHOLDER.findall(self.input_template))
        unknown = found - set(self.input_paths_map) - _PREDEFINED_PLACEHOLDERS
        if unknown:
            raise ValueError(f"placeholders {sorted(unknown)} not in paths map")
        return self


class TargetSpec(_Spec):
    id: StrictStr = Field(alias="Id")
    queue: StrictStr = Field(alias="Queue")
    input_transformer: InputTransformerSpec | None = Field(default=None, alias="InputTransformer")


class RuleSpec(_Spec):
    name: StrictStr = Field(alias="Name")
    description: StrictStr = Field(default="", alias="Description")
    event_bus_name: StrictStr = Field(alias="EventBusName")
    state: Literal["ENABLED", "DISABLED"] = Field(default="ENABLED", alias="State")
    event_pattern: dict[str, Any] = Field(alias="EventPattern")
    targets: tuple[TargetSpec, ...] = Field(alias="Targets", min_length=1)

    @model_validator(mode="after")
    def _pattern_selects(self) -> RuleSpec:
        if not self.event_pattern:
            raise ValueError("an empty EventPattern would match every event")
        return self


# Bounds are those AWS enforces (retention: 1 minute to 14 days), so that a file that would
# fail at apply time fails at load time, offline.
class DeadLetterQueueSpec(_Spec):
    name: StrictStr = Field(alias="Name")
    message_retention_period: StrictInt = Field(alias="MessageRetentionPeriod", ge=60, le=1_209_600)
    max_receive_count: StrictInt = Field(alias="MaxReceiveCount", ge=1, le=1_000)


class EventSourceMappingSpec(_Spec):
    """Applied by Terraform in the cloud and imitated by ``devstack.lambda_runner`` locally."""

    function_name: StrictStr = Field(alias="FunctionName")
    batch_size: StrictInt = Field(alias="BatchSize", ge=1, le=10_000)
    maximum_batching_window_in_seconds: StrictInt = Field(
        alias="MaximumBatchingWindowInSeconds", ge=0, le=300
    )
    function_response_types: tuple[StrictStr, ...] = Field(alias="FunctionResponseTypes")


class QueueSpec(_Spec):
    name: StrictStr = Field(alias="Name")
    visibility_timeout: StrictInt = Field(alias="VisibilityTimeout", ge=0, le=43_200)
    message_retention_period: StrictInt = Field(alias="MessageRetentionPeriod", ge=60, le=1_209_600)
    receive_message_wait_time_seconds: StrictInt = Field(
        alias="ReceiveMessageWaitTimeSeconds", ge=0, le=20
    )
    dead_letter_queue: DeadLetterQueueSpec = Field(alias="DeadLetterQueue")
    event_source_mapping: EventSourceMappingSpec | None = Field(
        default=None, alias="EventSourceMapping"
    )


class TableSpec(_Spec):
    """The table's name and its CreateTable request, passed to DynamoDB as it is written."""

    table_name: StrictStr = Field(alias="TableName")
    key_schema: list[dict[str, Any]] = Field(alias="KeySchema")
    attribute_definitions: list[dict[str, Any]] = Field(alias="AttributeDefinitions")
    # On demand: no capacity to plan, and no auto scaling to configure.
    billing_mode: Literal["PAY_PER_REQUEST"] = Field(alias="BillingMode")
    definition: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _keep_the_request(cls, data: Any) -> Any:
        return {**data, "definition": dict(data)} if isinstance(data, dict) else data


class _Buses(_Spec):
    event_buses: tuple[EventBusSpec, ...] = Field(alias="EventBuses")


class _Queues(_Spec):
    queues: tuple[QueueSpec, ...] = Field(alias="Queues")


class _Tables(_Spec):
    tables: tuple[TableSpec, ...] = Field(alias="Tables")


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
        event_buses=_validate(_Buses, buses, "buses.json").event_buses,
        rules=tuple(_validate(RuleSpec, rule, _rule_name(rule)) for rule in rules),
        queues=_validate(_Queues, queues, "queues.json").queues,
        tables=_validate(_Tables, tables, "tables.json").tables,
    )
    _check_references(resources)
    return resources


SpecT = TypeVar("SpecT", bound=_Spec)


def _validate(model: type[SpecT], document: Any, where: str) -> SpecT:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ResourceDefinitionError(f"{where}: {error}") from error


def _rule_name(document: Any) -> str:
    name = document.get("Name") if isinstance(document, dict) else None
    return f"rule {name}" if isinstance(name, str) else "rule"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResourceDefinitionError(f"{path}: {error}") from error


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
                    "State": rule.state,
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
