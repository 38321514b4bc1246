"""Test-only: records the AWS API calls the platform's deployables make.

The test session (tests/conftest.py) puts this folder on ``PYTHONPATH`` and names a log file in
``CAREPLAN_AWS_CALL_LOG`` for the processes the launcher starts; Python imports
``sitecustomize`` at start-up, so every botocore session of those processes gets a
``before-parameter-build`` hook. Production never loads this file.

A call is attributed to a deployable by the process's main package (``python -m
eventbridge_sink``) or, for the Lambda handler that ``devstack.lambda_runner`` runs in its own
process, by the handler's frames on the stack; calls of the runner itself (it stands in for
Lambda's event source mapping, whose permissions AWS documents) are not recorded. Each distinct
(deployable, operation, resource) is appended once per process as a JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

# Top-level package -> deployable (the names of deploy/terraform's roles and the launcher's).
DEPLOYABLES = {
    "provider_schedule": "provider-schedule",
    "care_plan": "care-plan",
    "insurance_processor": "insurance-processor",
    "eventbridge_sink": "eventbridge-sink",
    "clinic_operations": "clinic-operations",
    "patient_notifications": "patient-notifications",
}

_LOG = os.environ.get("CAREPLAN_AWS_CALL_LOG")
_seen: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def _deployable() -> str | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.split(".")[0] in DEPLOYABLES:
        return DEPLOYABLES[spec.name.split(".")[0]]
    frame = sys._getframe(1)
    while frame is not None:
        package = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if package in DEPLOYABLES:
            return DEPLOYABLES[package]
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _resources(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """The resources a call acts on, named as tests/unit/deploy/test_iam.py resolves them."""
    if service == "events" and ("Rule" in params or operation.endswith("Rule")):
        bus = params.get("EventBusName") or "default"
        return [f"events:rule/{bus}/{params.get('Rule') or params.get('Name')}"]
    if service == "events":
        if operation == "PutEvents":
            buses = {entry.get("EventBusName", "default") for entry in params.get("Entries", [])}
        else:
            buses = {params.get("EventBusName") or params.get("Name") or "default"}
        return [f"events:event-bus/{bus}" for bus in sorted(buses)]
    if service == "dynamodb" and "TableName" in params:
        return [f"dynamodb:table/{params['TableName']}"]
    if service == "ses" and "FromEmailAddress" in params:
        # SES authorises a send against the sender's identity: its domain here.
        return [f"ses:identity/{str(params['FromEmailAddress']).rsplit('@', 1)[-1]}"]
    if service == "sqs" and ("QueueUrl" in params or "QueueName" in params):
        name = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1] or params["QueueName"]
        return [f"sqs:{name}"]
    return [f"{service}:*"]


def _record(**event: Any) -> None:
    params: dict[str, Any] = event["params"]
    model = event["model"]
    deployable = _deployable()
    if deployable is None or _LOG is None:
        return
    service = model.service_model.signing_name
    for resource in _resources(service, model.name, params):
        call = (deployable, f"{service}:{model.name}", resource)
        with _lock:
            if call in _seen:
                continue
            _seen.add(call)
            os.makedirs(os.path.dirname(_LOG), exist_ok=True)
            with open(_LOG, "a", encoding="utf-8") as log:
                line = {"deployable": call[0], "call": call[1], "resource": call[2]}
                log.write(json.dumps(line) + "\n")


def _install() -> None:
    try:
        import botocore.session
    except ImportError:  # a tool's interpreter without botocore: nothing to record
        return
    original = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("before-parameter-build", _record)

    botocore.session.Session.__init__ = init  # type: ignore[method-assign]


if _LOG:
    _install()
