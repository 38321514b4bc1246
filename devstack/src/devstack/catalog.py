"""Every process `careplan up` runs, in one list: adding a process is one declaration here."""

from __future__ import annotations

import sys
from collections.abc import Callable

from devstack.component import Component, Tier
from devstack.flow.component import FLOW
from devstack.jaeger import JAEGER
from devstack.kafka import KAFKA
from devstack.moto import MOTO, queue_ready
from devstack.postgres import POSTGRES
from devstack.replicas import replica_name
from devstack.services import service

ONSITE_QUEUE = "onsite-care-plan-events-queue"
# The Clinic Operations function: a Lambda in the cloud, run locally by devstack.lambda_runner.
LAMBDA_HANDLER = "clinic_operations.handler.handler"

INFRASTRUCTURE: tuple[Component, ...] = (KAFKA, POSTGRES, MOTO)
# `careplan up --with <name>` starts these parts; plain `up` leaves them out.
OPTIONAL_PARTS: dict[str, str] = {"tracing": JAEGER.name}

PROVIDER_SCHEDULE = service(
    name="provider-schedule",
    module="provider_schedule",
    port=lambda s: s.provider_schedule_port,
    migrations="provider_schedule.migrate",
)
CARE_PLAN = service(
    name="care-plan",
    module="care_plan",
    port=lambda s: s.care_plan_port,
    migrations="care_plan.migrate",
)

EVENTBRIDGE_SINK = service(
    name="eventbridge-sink",
    module="eventbridge_sink",
    port=lambda s: s.eventbridge_sink_port,
    depends_on=("kafka", "moto"),
)
INSURANCE_PROCESSOR = service(
    name="insurance-processor",
    module="insurance_processor",
    port=lambda s: s.insurance_processor_port,
    depends_on=("kafka",),
    extra_environment=lambda s, replica: {
        # RocksDB locks its folder: each replica keeps its own copy of the state it restores.
        "STATE_DIR": str(
            (s.state_dir / replica_name("insurance-processor-state", replica)).resolve()
        ),
        # Exactly-once output is visible when its transaction commits: commit often locally,
        # so that a covered booking reaches the insured topic in a fraction of a second.
        "COMMIT_INTERVAL_SECONDS": "0.2",
    },
)


def lambda_runner(
    name: str,
    *,
    queue: str,
    handler: str,
    environment: dict[str, str],
    replicate: Callable[[int], Component],
    replica: int,
) -> Component:
    """Plays Lambda's SQS event source mapping for one function (``devstack.lambda_runner``);
    replicas are competing consumers of the queue, as Lambda's concurrent pollers are."""
    return Component(
        name=replica_name(name, replica),
        tier=Tier.SERVICE,
        command=lambda _: [sys.executable, "-m", "devstack.lambda_runner"],
        ready=queue_ready(queue),
        address=lambda _: f"sqs://{queue} -> {handler}",
        environment=lambda _: {
            **environment,
            "LAMBDA_HANDLER": handler,
            "LAMBDA_RETRY_DELAY_SECONDS": "2",
        },
        depends_on=("moto",),
        replicate=replicate,
        replica_of=name if replica else None,
        replica_index=replica,
    )


def clinic_operations(replica: int = 0) -> Component:
    return lambda_runner(
        "clinic-operations",
        queue=ONSITE_QUEUE,
        handler=LAMBDA_HANDLER,
        environment={"ONSITE_QUEUE_NAME": ONSITE_QUEUE},
        replicate=clinic_operations,
        replica=replica,
    )


CLINIC_OPERATIONS = clinic_operations()

NOTIFICATIONS_QUEUE = "confirmed-care-plan-events-queue"
# The Patient Notifications function: a Lambda in the cloud, run locally like Clinic Operations.
NOTIFICATIONS_HANDLER = "patient_notifications.handler.handler"


def patient_notifications(replica: int = 0) -> Component:
    """The Patient Notifications function tells patients (through SES, moto locally) that a
    booking was confirmed or cancelled."""
    return lambda_runner(
        "patient-notifications",
        queue=NOTIFICATIONS_QUEUE,
        handler=NOTIFICATIONS_HANDLER,
        environment={
            "LAMBDA_QUEUE_NAME": NOTIFICATIONS_QUEUE,
            "LAMBDA_FUNCTION_NAME": "patient-notifications",
            # Three round trips per message (claim, send, mark) and every confirmed booking:
            # the busiest function waits on latency, not CPU (bench/serverless_tail.py).
            "LAMBDA_POLLERS": "10",
        },
        replicate=patient_notifications,
        replica=replica,
    )


PATIENT_NOTIFICATIONS = patient_notifications()

SERVICES: tuple[Component, ...] = (
    PROVIDER_SCHEDULE,
    CARE_PLAN,
    INSURANCE_PROCESSOR,
    EVENTBRIDGE_SINK,
    CLINIC_OPERATIONS,
    PATIENT_NOTIFICATIONS,
)


def platform_components() -> tuple[Component, ...]:
    return (*INFRASTRUCTURE, JAEGER, *SERVICES, FLOW)
