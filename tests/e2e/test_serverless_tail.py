"""Issues 5 and 18 end to end, with the whole platform that `careplan up` runs: bookings travel
through the Insurance Processor, the EventBridge sink, the shipped rules, SQS and the Clinic
Operations function into DynamoDB, and through the Patient Notifications function to the patient
(SES, which moto plays and which keeps what it sent)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from contract import topics
from devstack.moto import aws_client
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from devstack.topic_watch import TopicWatch
from tests.support import aws_calls

pytestmark = pytest.mark.e2e
NOTIFICATIONS_QUEUE = "confirmed-care-plan-events-queue"
T = TypeVar("T")


def _eventually(probe: Callable[[], T | None], *, within: float, what: str) -> T:
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.02)


def _processed_past(settings: DevstackSettings, partition: int, offset: int) -> bool | None:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": "insurance-processor", "log_level": 0})  # fmt: skip
    try:
        [committed] = consumer.committed(
            [TopicPartition(topics.CAREPLAN_BOOKINGS, partition)], timeout=5
        )
    finally:
        consumer.close()
    return True if committed.offset > offset else None


class Story:
    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        headers = {"X-API-KEY": settings.api_key}
        self.providers = httpx.Client(
            base_url=f"http://127.0.0.1:{settings.provider_schedule_port}", headers=headers
        )
        self.care_plan = httpx.Client(
            base_url=f"http://127.0.0.1:{settings.care_plan_port}", headers=headers
        )
        self.dynamodb: Any = aws_client(settings, "dynamodb")
        self.sqs: Any = aws_client(settings, "sqs")
        self._hour = 0

    def slot(self, encounter: str) -> dict[str, Any]:
        provider = (
            self.providers.post(
                "/providers",
                json={
                    "firstName": "Jo",
                    "lastName": f"Doc-{uuid.uuid4().hex[:6]}",
                    "speciality": "Dentist",
                    "gender": "MALE",
                },
            )
            .raise_for_status()
            .json()
        )
        self._hour += 1
        start = (datetime.now(UTC) + timedelta(days=10, hours=self._hour)).replace(
            minute=0, second=0, microsecond=0
        )
        slot = (
            self.providers.post(
                f"/providers/{provider['id']}/availability",
                json={
                    "fromDate": start.isoformat(),
                    "toDate": (start + timedelta(minutes=30)).isoformat(),
                    "encounterType": encounter,
                },
            )
            .raise_for_status()
            .json()
        )
        _eventually(
            lambda: self._searchable(slot["id"], provider["id"]),
            within=10,
            what="slot searchable in Care Plan",
        )
        return dict(slot)

    def _searchable(self, slot_id: str, provider_id: str) -> bool | None:
        found = self.care_plan.get("/availability", params={"providerId": provider_id}).json()
        return True if any(s["id"] == slot_id for s in found) else None

    def patient(self, *, insured: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "gender": "FEMALE",
            "dateOfBirth": "1990-12-10",
        }
        if insured:
            body["insurance"] = {
                "payer": "Acme Health",
                "memberId": "M-1",
                "plan": "GOLD",
                "validUntil": "2035-12-31",
            }
        return dict(self.care_plan.post("/patients", json=body).raise_for_status().json())

    def book(self, patient: dict[str, Any], slot: dict[str, Any], payment: str) -> dict[str, Any]:
        booking = (
            self.care_plan.post(
                f"/patients/{patient['id']}/bookings",
                json={"providerAvailabilityId": slot["id"], "paymentMode": payment},
            )
            .raise_for_status()
            .json()
        )
        return _eventually(
            lambda: self._with_status(patient, booking["id"], "CONFIRMED"),
            within=10,
            what="booking CONFIRMED",
        )

    def _with_status(
        self, patient: dict[str, Any], booking_id: str, status: str
    ) -> dict[str, Any] | None:
        bookings = self.care_plan.get(f"/patients/{patient['id']}/bookings").json()
        return next((b for b in bookings if b["id"] == booking_id and b["status"] == status), None)

    def visit(self, booking_id: str, status: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName="clinic-visits", Key={"bookingId": {"S": booking_id}}, ConsistentRead=True
        ).get("Item")
        return item if item and item["status"]["S"] == status else None

    def emails(self, booking_id: str) -> list[dict[str, Any]]:
        """The e-mails about one booking that SES (moto, which keeps them) accepted."""
        url = f"{self.settings.aws_endpoint}/moto-api/data.json"
        sent = httpx.get(url, timeout=10).raise_for_status().json()["ses"]["Message"]
        return [dict(message) for message in sent if booking_id in message["body"]]

    def emails_about(self, booking_id: str, count: int) -> list[dict[str, Any]] | None:
        found = self.emails(booking_id)
        return found if len(found) >= count else None

    def confirmed_queue_idle(self) -> bool | None:
        url = self.sqs.get_queue_url(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return True if not any(int(value) for value in attributes.values()) else None


@pytest.fixture(scope="module")
def story(launcher: Platform, devstack_settings: DevstackSettings) -> Story:
    launcher.up()
    return Story(devstack_settings)


@pytest.fixture
def watch(devstack_settings: DevstackSettings, story: Story) -> Iterator[TopicWatch]:
    with TopicWatch(
        devstack_settings.bootstrap_servers,
        [topics.CAREPLAN_BOOKINGS, topics.CAREPLAN_BOOKINGS_INSURED],
    ) as watching:
        yield watching


def test_onsite_booking_creates_a_clinic_visit_and_cancelling_marks_it(story: Story) -> None:
    patient = story.patient(insured=False)
    booking = story.book(patient, story.slot("ONSITE"), "SELF_PAY")

    # A bound against hanging, not a latency claim (bench/ measures the tail's speed).
    visit = _eventually(
        lambda: story.visit(booking["id"], "CONFIRMED"),
        within=30,
        what="clinic visit after confirmation",
    )
    assert visit["patientId"]["S"] == patient["id"]
    assert visit["encounterType"]["S"] == "ONSITE"

    story.care_plan.delete(f"/patients/{patient['id']}/bookings/{booking['id']}").raise_for_status()
    _eventually(
        lambda: story.visit(booking["id"], "CANCELLED"), within=10, what="clinic visit cancelled"
    )


def test_a_confirmed_booking_sends_the_patient_exactly_one_confirmation(story: Story) -> None:
    patient = story.patient(insured=True)
    booking = story.book(patient, story.slot("VIRTUAL"), "SELF_PAY")

    (email,) = _eventually(
        lambda: story.emails_about(booking["id"], 1), within=10, what="confirmation e-mail"
    )
    assert email["destinations"]["ToAddresses"] == [
        f"patient-{patient['id']}@patients.careplan.example"
    ]
    assert email["source"] == "bookings@careplan.example"
    assert email["subject"] == "Your appointment is confirmed"
    assert "virtual appointment" in email["body"]
    # Only what the patient needs: nothing of the insurance, no date of birth.
    for private in ("Acme Health", "M-1", "GOLD", "1990-12-10"):
        assert private not in email["body"]
    assert story.visit(booking["id"], "CONFIRMED") is None
    _eventually(story.confirmed_queue_idle, within=10, what="confirmed queue drained")
    assert len(story.emails(booking["id"])) == 1


def test_a_cancelled_booking_sends_a_cancellation_notice(story: Story) -> None:
    patient = story.patient(insured=False)
    booking = story.book(patient, story.slot("ONSITE"), "SELF_PAY")
    _eventually(lambda: story.emails_about(booking["id"], 1), within=10, what="confirmation")

    story.care_plan.delete(f"/patients/{patient['id']}/bookings/{booking['id']}").raise_for_status()

    confirmation, cancellation = _eventually(
        lambda: story.emails_about(booking["id"], 2), within=10, what="cancellation notice"
    )
    assert confirmation["subject"] == "Your appointment is confirmed"
    assert cancellation["subject"] == "Your appointment is cancelled"
    assert "on-site appointment" in cancellation["body"]
    assert "is cancelled, as you asked" in cancellation["body"]


def test_a_redelivered_message_sends_nothing_twice(story: Story) -> None:
    """SQS delivers at least once: the same notification message, put on the queue again (twice,
    as a duplicate delivery would), is handled and deleted without a second e-mail."""
    patient = story.patient(insured=False)
    booking = story.book(patient, story.slot("VIRTUAL"), "SELF_PAY")
    _eventually(lambda: story.emails_about(booking["id"], 1), within=10, what="confirmation")
    _eventually(story.confirmed_queue_idle, within=10, what="confirmed queue drained")

    # The body the all-confirmed rule's input transformer makes of this booking's event.
    body = json.dumps(
        {
            "source": "com.providerschedule",
            "event-type": "Notification",
            "id": str(uuid.uuid4()),
            "data": {
                "patientId": patient["id"],
                "bookingId": booking["id"],
                "status": "CONFIRMED",
                "encounterType": "VIRTUAL",
            },
        }
    )
    url = story.sqs.get_queue_url(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
    for _ in range(2):
        story.sqs.send_message(QueueUrl=url, MessageBody=body)
    _eventually(story.confirmed_queue_idle, within=10, what="redelivered messages handled")

    assert len(story.emails(booking["id"])) == 1


def test_insured_booking_is_routed_to_the_insured_topic_and_self_pay_is_not(
    story: Story, watch: TopicWatch
) -> None:
    insured_patient = story.patient(insured=True)
    covered = story.book(insured_patient, story.slot("VIRTUAL"), "INSURANCE_PAY")
    self_pay = story.book(insured_patient, story.slot("VIRTUAL"), "SELF_PAY")

    routed = _eventually(
        lambda: watch.find(topics.CAREPLAN_BOOKINGS_INSURED, "BOOKING_CONFIRMED", covered["id"]),
        within=10,
        what="covered booking on careplan.bookings.insured",
    )
    confirmed = _eventually(
        lambda: watch.find(topics.CAREPLAN_BOOKINGS, "BOOKING_CONFIRMED", self_pay["id"]),
        within=10,
        what="self-pay booking on careplan.bookings",
    )
    # The processor commits its input offsets in the same transaction as its output: once its
    # committed offset is past the self-pay record, anything it wrote for it would be visible.
    _eventually(
        lambda: _processed_past(story.settings, confirmed.partition, confirmed.offset),
        within=10,
        what="insurance processor past the self-pay booking",
    )

    assert routed.data["coverage"]["payer"] == "Acme Health"
    assert routed.data["coverage"]["memberId"] == "M-1"
    assert watch.find(topics.CAREPLAN_BOOKINGS_INSURED, "BOOKING_CONFIRMED", self_pay["id"]) is None


def test_the_deployables_make_exactly_the_committed_aws_calls(
    story: Story, devstack_settings: DevstackSettings
) -> None:
    """What the sink and the two functions call on AWS, recorded while the platform
    runs, is deploy/terraform/aws-api-calls.json: the file the IAM roles are checked against
    (tests/unit/deploy/test_iam.py). Every AWS path is driven here, so the comparison holds
    whichever tests ran before."""
    patient = story.patient(insured=True)
    onsite = story.book(patient, story.slot("ONSITE"), "INSURANCE_PAY")
    _eventually(lambda: story.visit(onsite["id"], "CONFIRMED"), within=10, what="visit")
    story.care_plan.delete(f"/patients/{patient['id']}/bookings/{onsite['id']}").raise_for_status()
    _eventually(lambda: story.visit(onsite["id"], "CANCELLED"), within=10, what="visit cancelled")
    _eventually(lambda: story.emails_about(onsite["id"], 2), within=10, what="both e-mails")

    calls = aws_calls.recorded(aws_calls.session_log(devstack_settings.state_dir))
    if os.environ.get("CAREPLAN_UPDATE_AWS_CALLS") == "1":
        aws_calls.write(calls)
    assert calls == aws_calls.committed(), (
        "the deployables' AWS calls differ from deploy/terraform/aws-api-calls.json; if the "
        "change is intended, rerun with CAREPLAN_UPDATE_AWS_CALLS=1 and fix the IAM roles "
        "that tests/unit/deploy/test_iam.py then names"
    )
