"""One booking, one trace: from Care Plan's POST through the outbox, the relay, Provider
Schedule's responder, the reply, the confirmation, the Insurance Processor, the sink,
EventBridge and SQS to the Clinic Operations function's DynamoDB write and the Patient
Notifications function's SES send.

The services run with tracing on (OTEL_* variables, 100 % sampling) and export over OTLP/HTTP
to a receiver in this process (tests/support/otlp.py); the trace is read back from there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import topics
from devstack.catalog import platform_components
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from tests.support.otlp import ReceivedSpan, SpanReceiver, otlp_receiver
from tests.support.story import book_insured_onsite, eventually

# Restarting five services with tracing on takes minutes on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
T = TypeVar("T")

TRACED = [
    "care-plan",
    "provider-schedule",
    "insurance-processor",
    "eventbridge-sink",
    "clinic-operations",
    "patient-notifications",
]
# An insured on-site booking's trace is a tree that forks at careplan.bookings: the sink
# forwards that record to the bus, whose on-site rule (careplan.bookings only, see
# deploy/eventbridge/rules) feeds the Clinic Operations function and whose all-confirmed rule
# feeds the Patient Notifications function; the Insurance Processor's insured copy goes to the
# bus on a branch of its own.
TRUNK = [
    f"publish {topics.BOOKING_REQUESTS}",
    f"process {topics.BOOKING_REQUESTS}",
    f"publish {topics.BOOKING_REPLIES}",
    f"process {topics.BOOKING_REPLIES}",
    f"publish {topics.CAREPLAN_BOOKINGS}",
]
VISIT_BRANCH = [f"send {topics.CAREPLAN_BOOKINGS} to EventBridge", "record clinic visit"]
NOTIFICATION_BRANCH = [f"send {topics.CAREPLAN_BOOKINGS} to EventBridge", "notify patient"]
INSURED_BRANCH = [
    "insure BOOKING_CONFIRMED",
    f"send {topics.CAREPLAN_BOOKINGS_INSURED} to EventBridge",
]
HOPS = set(TRUNK + VISIT_BRANCH + NOTIFICATION_BRANCH + INSURED_BRANCH)


@pytest.fixture(scope="module")
def traced_settings(devstack_settings: DevstackSettings) -> DevstackSettings:
    return devstack_settings.model_copy(update={"tracing": True, "trace_sample_ratio": 1.0})


@pytest.fixture(scope="module")
def receiver(launcher: Platform, traced_settings: DevstackSettings) -> Iterator[SpanReceiver]:
    """The services restarted with tracing on, and afterwards as the session's launcher starts
    them (tracing off): the tests after this module expect them running."""
    traced = Platform(traced_settings, platform_components())
    with otlp_receiver(traced_settings.otlp_http_port) as spans:
        traced.down(TRACED)
        traced.up(TRACED)
        try:
            yield spans
        finally:
            traced.down(TRACED)
            launcher.up(TRACED)


def _trace_of(spans: SpanReceiver, booking_id: str) -> str | None:
    post = next((s for s in spans.spans() if s.attributes.get("booking.id") == booking_id), None)
    return post.trace_id if post else None


def _lineage(trace: list[ReceivedSpan], leaf: ReceivedSpan) -> list[str]:
    """The hops from the root down to ``leaf``, as far as its parents were exported."""
    by_id = {s.span_id: s for s in trace}
    chain, span = [leaf.name], leaf
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span.name)
    return [name for name in reversed(chain) if name in HOPS]


def _lineages(trace: list[ReceivedSpan]) -> dict[str, list[list[str]]]:
    """Each branch's ends: the function spans that wrote to DynamoDB or sent through SES (their
    AWS calls are children, by the botocore instrumentation), and the insured sends."""
    wrote = {s.parent_span_id for s in trace if "DynamoDB" in s.name}
    sent = {s.parent_span_id for s in trace if s.attributes.get("rpc.method") == "SendEmail"}
    visits = [s for s in trace if s.name == VISIT_BRANCH[-1] and s.span_id in wrote]
    notifications = [s for s in trace if s.name == NOTIFICATION_BRANCH[-1] and s.span_id in sent]
    insured = [s for s in trace if s.name == INSURED_BRANCH[-1]]
    return {
        "visit": [_lineage(trace, s) for s in visits],
        "notification": [_lineage(trace, s) for s in notifications],
        "insured": [_lineage(trace, s) for s in insured],
    }


def _complete(spans: SpanReceiver, trace_id: str) -> list[ReceivedSpan] | None:
    """The trace once every branch holds every hop, in order, and no span's parent is still
    on its way (each service exports in batches of its own)."""
    trace = spans.trace(trace_id)
    by_id = {s.span_id for s in trace}
    settled = all(s.parent_span_id in by_id for s in trace if s.parent_span_id)
    branches = _lineages(trace)
    whole = (
        TRUNK + VISIT_BRANCH in branches["visit"]
        and TRUNK + NOTIFICATION_BRANCH in branches["notification"]
        and TRUNK + INSURED_BRANCH in branches["insured"]
    )
    return trace if whole and settled else None


def test_one_booking_is_one_unbroken_trace_across_every_service(
    receiver: SpanReceiver, traced_settings: DevstackSettings
) -> None:
    booking_id = book_insured_onsite(traced_settings)
    trace_id = eventually(
        lambda: _trace_of(receiver, booking_id), within=30, what="the POST's server span"
    )
    # Each hop descends from the one before: lines of parents, not siblings.
    try:
        trace = eventually(
            lambda: _complete(receiver, trace_id), within=120, what="every hop, in order"
        )
    except AssertionError as error:
        spans = receiver.trace(trace_id)
        ids = {s.span_id for s in spans}
        orphans = sorted(
            {s.name for s in spans if s.parent_span_id and s.parent_span_id not in ids}
        )
        raise AssertionError(
            f"{error}; lineages {_lineages(spans)}; spans with no parent in the trace: {orphans};"
            f" names {sorted({s.name for s in spans})}"
        ) from error

    assert {s.service for s in trace} >= set(TRACED)
    roots = [s for s in trace if not s.parent_span_id]
    assert [r.name for r in roots] == ["POST /patients/{patientId}/bookings"]

    # The relay's batch span lives in a trace of its own and links to the transaction it
    # published: one batch, many parents.
    batches = [s for s in receiver.spans() if s.name == "outbox relay publish"]
    assert any((trace_id, roots[0].span_id) in b.links for b in batches)


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "careplan-dashboard.json"
# A metric selector in PromQL: a name followed by its label matchers.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def _exported(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics", timeout=10).raise_for_status().text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_the_dashboard_queries_only_metrics_the_services_export(
    receiver: SpanReceiver, traced_settings: DevstackSettings
) -> None:
    booking_id = book_insured_onsite(traced_settings)
    eventually(lambda: _trace_of(receiver, booking_id), within=30, what="the booking's trace")
    urls = [
        f"http://127.0.0.1:{port}"
        for port in (
            traced_settings.care_plan_port,
            traced_settings.provider_schedule_port,
            traced_settings.eventbridge_sink_port,
        )
    ]

    def all_exported() -> set[str] | None:
        names = set().union(*map(_exported, urls))
        # Lag is set after a commit: present once the booking's records were consumed.
        return names if "eventing_consumer_lag_records" in names else None

    exported = eventually(all_exported, within=30, what="consumer lag exported")
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in SELECTOR.findall(target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"

    # Latency buckets carry the sampled request's trace id (OpenMetrics exemplars).
    text = httpx.get(
        f"{urls[0]}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    ).text
    exemplars = re.findall(
        r'http_request_duration_seconds_bucket\{.*# \{trace_id="([0-9a-f]{32})"\}', text
    )
    assert exemplars, "no exemplar on the HTTP latency buckets"
    traced_ids = {s.trace_id for s in receiver.spans()}
    assert set(exemplars) & traced_ids, "exemplars point at no exported trace"
