"""Each IAM role of deploy/terraform allows exactly the AWS calls its deployable makes.

The calls are not written from memory: they are deploy/terraform/aws-api-calls.json, recorded
from the running deployables by the end-to-end tests (tests/support/aws_calls.py), which also
fail when the code's calls and that file drift apart. What no process of ours calls, but AWS
does with the role's credentials, is declared below with its reason: the Lambda event source
mapping's SQS calls, the Lambda runtime's logs, and KMS, which AWS services call on the
caller's behalf for resources encrypted with the platform key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from devstack.aws_bootstrap import LOCAL_SENDER_DOMAIN, load_aws_resources
from tests.support import aws_calls
from tests.unit.deploy.terraform import blocks, functions, resources

AWS = load_aws_resources()
MAPPED_QUEUE = {
    q.event_source_mapping.function_name: q.name for q in AWS.queues if q.event_source_mapping
}
VISITS_TABLE = "clinic-visits"
NOTIFICATIONS_TABLE = "patient-notifications"
# Locally the sender's domain is devstack's; in the cloud it is var.notification_sender_domain.
SENDER_IDENTITY = f"ses:identity/{LOCAL_SENDER_DOMAIN}"
KEY = "kms:key/platform"
LOG_GROUP = {name: f"logs:log-group/{name}" for name in MAPPED_QUEUE}

# The Terraform expressions the policies name resources with -> the resources they mean, in the
# recording's names. A policy naming anything else fails the test until it is added here.
TERRAFORM_RESOURCES = {
    "${[for bus in aws_cloudwatch_event_bus.this : bus.arn]}": {
        f"events:event-bus/{bus.name}" for bus in AWS.event_buses
    },
    "${aws_sqs_queue.this[local.clinic_operations_queue].arn}": {
        f"sqs:{MAPPED_QUEUE['clinic-operations']}"
    },
    "${aws_dynamodb_table.this[local.clinic_visits_table].arn}": {f"dynamodb:table/{VISITS_TABLE}"},
    "${aws_kms_key.platform.arn}": {KEY},
    "${module.clinic_operations.aws_cloudwatch_log_group.this.arn}:*": {
        LOG_GROUP["clinic-operations"]
    },
    "${aws_sqs_queue.this[local.notifications_queue].arn}": {
        f"sqs:{MAPPED_QUEUE['patient-notifications']}"
    },
    "${aws_dynamodb_table.this[local.notifications_table].arn}": {
        f"dynamodb:table/{NOTIFICATIONS_TABLE}"
    },
    "${aws_sesv2_email_identity.notifications.arn}": {SENDER_IDENTITY},
    "${module.patient_notifications.aws_cloudwatch_log_group.this.arn}:*": {
        LOG_GROUP["patient-notifications"]
    },
}

# API operations whose IAM action has another name.
IAM_ACTION = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
}

# Every bus, queue and table is encrypted with the platform key (kms_key_identifier,
# kms_master_key_id, server_side_encryption): the service uses the key with the caller's
# permissions. Not recordable (KMS is called by AWS, not by our code), so declared.
KMS_FOR = {
    "events:PutEvents": {"kms:GenerateDataKey", "kms:Decrypt"},
    "sqs:ReceiveMessage": {"kms:Decrypt"},
    "dynamodb:PutItem": {"kms:Decrypt", "kms:GenerateDataKey"},
    "dynamodb:UpdateItem": {"kms:Decrypt", "kms:GenerateDataKey"},
}


def event_source_mapping(function: str) -> set[tuple[str, str]]:
    """Lambda's SQS event source mapping polls with the execution role; these three are what the
    Lambda documentation requires of it (devstack.lambda_runner plays it locally, and its calls
    are deliberately not recorded: GetQueueUrl and the visibility change are local conveniences)."""
    queue = f"sqs:{MAPPED_QUEUE[function]}"
    return {
        ("sqs:ReceiveMessage", queue),
        ("sqs:DeleteMessage", queue),
        ("sqs:GetQueueAttributes", queue),
    }


def lambda_runtime(function: str) -> set[tuple[str, str]]:
    """The Lambda runtime writes the function's logs with the execution role."""
    return {
        ("logs:CreateLogStream", LOG_GROUP[function]),
        ("logs:PutLogEvents", LOG_GROUP[function]),
    }


@dataclass(frozen=True)
class Role:
    """A deployable's role: a policy document of the root, or that of a Lambda function made
    by modules/queue_function (named by its Python package)."""

    deployable: str
    policy_document: str | None = None
    function: str | None = None

    @property
    def runs_on_lambda(self) -> bool:
        return self.function is not None


ROLES = [
    Role("eventbridge-sink", policy_document="eventbridge_sink"),
    Role("clinic-operations", function="clinic_operations"),
    Role("patient-notifications", function="patient_notifications"),
]
# What the module's dynamic block makes of each statement the call passes: exactly that.
PASSED_THROUGH = [
    {
        "sid": "${statement.value.sid}",
        "actions": "${statement.value.actions}",
        "resources": "${statement.value.resources}",
    }
]
# Deployables with no AWS role at all: any AWS call they start making needs one.
WITHOUT_ROLE = {"provider-schedule", "care-plan", "insurance-processor"}

Permission = tuple[str, str]


def statements(role: Role) -> list[dict[str, Any]]:
    """The statements of the role's policy document, as Terraform writes them."""
    if role.function is None:
        found: list[dict[str, Any]] = resources("aws_iam_policy_document")[
            str(role.policy_document)
        ]["statement"]
        return found
    document = functions()[role.function].resource("aws_iam_policy_document")
    (dynamic,) = document["dynamic"]
    assert set(dynamic) == {"statement"}
    assert dynamic["statement"]["content"] == PASSED_THROUGH
    return [*document["statement"], *dynamic["statement"]["for_each"]]


def allowed(role: Role) -> set[Permission]:
    """(action, resource) pairs the role's Terraform policy document allows."""
    granted: set[Permission] = set()
    for statement in statements(role):
        assert statement.get("effect", "Allow") == "Allow", statement
        named = statement["resources"]
        for expression in [named] if isinstance(named, str) else named:
            assert expression in TERRAFORM_RESOURCES, (
                f"{role.deployable}: unknown resource {expression}"
            )
            for resource in TERRAFORM_RESOURCES[expression]:
                granted.update((action, resource) for action in statement["actions"])
    return granted


def needed(role: Role, calls: aws_calls.Calls) -> set[Permission]:
    """(action, resource) pairs the deployable's recorded calls and its platform need."""
    permissions: set[Permission] = set()
    for line in calls.get(role.deployable, []):
        operation, resource = line.split(" ", 1)
        action = IAM_ACTION.get(operation, operation)
        permissions.add((action, resource))
    if role.runs_on_lambda:
        permissions |= event_source_mapping(role.deployable) | lambda_runtime(role.deployable)
    permissions |= {
        (kms_action, KEY) for action, _ in permissions for kms_action in KMS_FOR.get(action, ())
    }
    return permissions


def describe(permissions: set[Permission]) -> str:
    return ", ".join(f"{action} on {resource}" for action, resource in sorted(permissions))


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.deployable)
def test_the_role_allows_every_call_its_deployable_makes(role: Role) -> None:
    missing = needed(role, aws_calls.committed()) - allowed(role)
    assert not missing, f"{role.deployable} calls but its role does not allow: {describe(missing)}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.deployable)
def test_the_role_allows_nothing_its_deployable_never_does(role: Role) -> None:
    unused = allowed(role) - needed(role, aws_calls.committed())
    assert not unused, f"{role.deployable}'s role allows what it never does: {describe(unused)}"


def test_every_deployable_that_calls_aws_has_a_role() -> None:
    calls = aws_calls.committed()
    assert set(calls) <= {role.deployable for role in ROLES} | WITHOUT_ROLE
    for deployable in WITHOUT_ROLE:
        assert deployable not in calls, (
            f"{deployable} calls AWS without a role: {calls[deployable]}"
        )
    for role in ROLES:
        assert calls.get(role.deployable), f"nothing recorded for {role.deployable}"


def test_the_roles_carry_no_other_policy() -> None:
    """The documents above are the whole grant, but for two AWS-managed policies the function's
    own settings require: ENIs for its vpc_config and X-Ray segments for Active tracing."""
    sink = blocks("module")["eventbridge_sink_irsa"]
    assert sink["role_policy_arns"] == {"put_events": "${aws_iam_policy.eventbridge_sink.arn}"}
    assert not any(key.startswith("attach_") for key in sink)
    assert (
        resources("aws_iam_policy")["eventbridge_sink"]["policy"]
        == "${data.aws_iam_policy_document.eventbridge_sink.json}"
    )
    # Outside the module no deployable's role is made: the one role of the root is RDS's own
    # (enhanced monitoring), and no role of the root gets an inline policy.
    assert set(resources("aws_iam_role")) == {"rds_monitoring"}
    assert resources("aws_iam_role_policy") == {}
    assert {a["role"] for a in resources("aws_iam_role_policy_attachment").values()} == {
        "${aws_iam_role.rds_monitoring.name}"
    }
    assert set(functions()) == {role.function for role in ROLES if role.function}
    for call in functions().values():
        assert set(resources("aws_iam_role", call.folder)) == {"this"}
        (inline,) = resources("aws_iam_role_policy", call.folder).values()
        assert inline["policy"] == "${data.aws_iam_policy_document.this.json}"
        assert inline["role"] == "${aws_iam_role.this.id}"
        (attachments,) = resources("aws_iam_role_policy_attachment", call.folder).values()
        assert attachments["role"] == "${aws_iam_role.this.name}"
        attached = {arn.rsplit("/", 1)[-1] for arn in attachments["for_each"].values()}
        assert attached == {"AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"}
        function = call.resource("aws_lambda_function")
        assert function["role"] == f"${{module.{call.label}.aws_iam_role.this.arn}}"
        assert function["vpc_config"]
        assert function["tracing_config"] == [{"mode": "Active"}]


def test_an_unrecorded_call_fails_the_check() -> None:
    """The check itself: a call the role lacks is reported, as is a permission nobody uses."""
    role = ROLES[0]
    calls: dict[str, Any] = dict(aws_calls.committed())
    calls[role.deployable] = [*calls[role.deployable], "events:DescribeRule events:event-bus/x"]
    assert ("events:DescribeRule", "events:event-bus/x") in needed(role, calls) - allowed(role)
    calls[role.deployable] = [c for c in calls[role.deployable] if "PutEvents" not in c]
    assert ("events:PutEvents", "events:event-bus/care-plan-events") in allowed(role) - needed(
        role, calls
    )
